#!/usr/bin/env bash
# The main job on a fresh machine: install what is missing, build, make a
# sample video and turn it into an HLS + DASH ladder.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
mkdir -p out
if [ ! -f out/sample.mp4 ]; then
  echo "making a 20 s 1080p sample with ffmpeg's test sources..."
  ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=size=1920x1080:rate=30:duration=20" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=20" -ac 2 \
    -c:v libx264 -preset veryfast -crf 18 -pix_fmt yuv420p -c:a aac out/sample.mp4
fi
build/cli/streamlet-cli transcode out/sample.mp4 -o out/sample
echo
echo "play it: ffplay out/sample/master.m3u8   (or serve out/sample over HTTP for a browser player)"
