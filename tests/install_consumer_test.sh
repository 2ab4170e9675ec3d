#!/usr/bin/env bash
# A downstream project's view: install libstreamlet, find_package(streamlet),
# build examples/transcode_file.cpp against it and run it on a small clip.
set -euo pipefail
build=$1
src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$src/examples/consumer" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/consumer" >/dev/null
ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=320x240:rate=25:duration=2 -c:v libx264 \
  -preset ultrafast -pix_fmt yuv420p "$work/clip.mp4"
"$work/consumer/consumer" "$work/clip.mp4" "$work/out" 2>/dev/null | tee "$work/log"
grep -q "HLS:  $work/out/master.m3u8" "$work/log"
test -s "$work/out/master.m3u8"
test -s "$work/out/manifest.mpd"
echo "find_package(streamlet) consumer built and ran"
