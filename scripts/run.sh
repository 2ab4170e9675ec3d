#!/usr/bin/env bash
# The main job on a fresh machine: install what is missing, build, start the
# platform (streamlet-server on the embedded default: a data directory with
# SQLite and local files) and, on first start, upload a sample video.
#   STREAMLET_LISTEN (default 127.0.0.1:8080)  STREAMLET_DATA (default ./streamlet-data)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh

listen=${STREAMLET_LISTEN:-127.0.0.1:8080}
data=${STREAMLET_DATA:-./streamlet-data}
mkdir -p "$data"
build/server/streamlet-server --listen "$listen" --data "$data" &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server' INT TERM
url="http://$listen"
for _ in $(seq 100); do curl -fs "$url/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

if [ ! -f "$data/.sample-uploaded" ]; then
  sample=$data/sample.mp4
  echo "run: making a 20 s 1080p sample with ffmpeg's test sources and uploading it..."
  ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=size=1920x1080:rate=30:duration=20" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=20" -ac 2 \
    -c:v libx264 -preset veryfast -crf 20 -pix_fmt yuv420p -c:a aac "$sample"
  build/cli/streamlet-cli upload "$sample" --server "$url" --api-key "$(cat "$data/api-key")" \
    && touch "$data/.sample-uploaded"
fi
echo
echo "run: Streamlet is at $url  (the admin password is printed above on first start; Ctrl-C stops)"
wait $server
