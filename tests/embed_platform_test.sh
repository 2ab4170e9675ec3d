#!/usr/bin/env bash
# examples/embed_platform.cpp, run as a user would: the platform inside another program, on a
# storage backend of that program's own (in memory). It uploads a generated clip, waits for the
# transcode and plays the result back; it exits 0 only when all of that worked and nothing
# but the catalog reached the disk.
set -euo pipefail
example="$1"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
ffmpeg -loglevel error -y -f lavfi -i testsrc2=size=320x240:rate=25:duration=3 \
  -f lavfi -i sine=frequency=440:sample_rate=48000:duration=3 -ac 2 -c:v libx264 \
  -preset ultrafast -pix_fmt yuv420p -c:a aac -shortest "$work/clip.mp4"
out="$("$example" "$work/clip.mp4" "$work/app" 2>"$work/stderr")" || {
  cat "$work/stderr" >&2
  exit 1
}
echo "$out"
grep -q "ready (3.0 s)" <<<"$out"
