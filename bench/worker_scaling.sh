#!/usr/bin/env bash
# Transcode throughput with 1, 2, 4 ... worker processes over one shared queue: an API node
# (--roles api,origin) takes N short uploads while no worker runs, so all N are queued at once;
# then W worker processes (--roles worker --transcode-threads T, one transcode each) start
# together on the same catalog and storage directory, and the figure is the wall time from
# their start until every video is ready. Each W is run --runs times, alternating with the
# others, and the median is reported with videos/min and the speedup over W=1 (ideal: W, or
# the machine's cores if fewer: two 1-thread workers fill a 2-core machine). Printed, never
# asserted. With --chunk-seconds C the workers cut each video into C-second chunks, each a job
# of the queue any worker takes (a flow: parts, then their join): `--videos 1 --seconds 24
# --chunk-seconds 4` is one video's chunks spread over W worker processes.
#
#   bench/worker_scaling.sh [--build build] [--workers "1 2 4"] [--videos 8] [--seconds 4]
#                           [--threads 1] [--runs 2] [--catalog sqlite|postgres]
#                           [--chunk-seconds 0]
#
# --catalog postgres starts a throwaway PostgreSQL (tests/support/postgres_server.sh) for the
# catalog, queue and events (NOTIFY wake-ups); sqlite (default) shares one catalog.db file,
# whose queue workers poll (250 ms). Needs a built streamlet-server and streamlet-cli, ffmpeg,
# curl, python3. Run it under `flock /work/bench.lock` on a shared machine.
set -euo pipefail
shopt -s inherit_errexit

build=build workers="1 2 4" videos=8 seconds=4 threads=1 runs=2 catalog=sqlite chunk=0
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    --videos) videos=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --catalog) catalog=$2; shift 2 ;;
    --chunk-seconds) chunk=$2; shift 2 ;;
    *) sed -n '14,16p' "$0" >&2; exit 2 ;;
  esac
done
case "$catalog" in sqlite|postgres) ;; *) echo "--catalog sqlite|postgres" >&2; exit 2 ;; esac
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$build" && pwd)
server_bin=$build/server/streamlet-server
cli_bin=$build/cli/streamlet-cli
for b in "$server_bin" "$cli_bin"; do [ -x "$b" ] || { echo "no $b: build it first" >&2; exit 2; }; done
for tool in ffmpeg curl python3; do
  command -v "$tool" >/dev/null || { echo "$tool needed" >&2; exit 2; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/streamlet-worker-scaling.XXXXXX")
chmod 755 "$work"
# shellcheck source=server_nodes.sh
source "$src/bench/server_nodes.sh"
cleanup() {
  stop_nodes
  [ "$catalog" = postgres ] && bash "$src/tests/support/postgres_server.sh" stop "$work/pg" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
now() { date +%s.%N; }
# ready failed (counts over every video of the catalog), and the first failure's reason.
counts() {
  curl -s -H "Authorization: Bearer bench-key" "$1/v1/videos?per_page=100" | python3 -c 'import json,sys
items = json.load(sys.stdin)["items"]
failed = [v["status_reason"] for v in items if v["status"] == "failed"]
print(sum(v["status"] == "ready" for v in items), len(failed), failed[0] if failed else "")'
}

if [ "$catalog" = postgres ]; then
  mkdir -p "$work/pg"
  bash "$src/tests/support/postgres_server.sh" start "$work/pg" >/dev/null
  [ -f "$work/pg/url" ] || { echo "PostgreSQL not available: $(cat "$work/pg/unavailable" 2>/dev/null)" >&2; exit 2; }
fi

ffmpeg -nostdin -loglevel error -y -f lavfi -i "testsrc2=size=640x360:rate=25:duration=$seconds" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=$seconds" -ac 2 -c:v libx264 \
  -preset ultrafast -pix_fmt yuv420p -c:a aac -shortest "$work/source.mp4"

# One measured round: a fresh catalog and store, N uploads queued, W workers until all ready.
# Prints the seconds from the workers' start to the last ready.
round() {
  local w=$1 r=$2 dir=$work/run-$1-$2 url db
  mkdir -p "$dir/api" "$dir/store"
  if [ "$catalog" = postgres ]; then
    db=w${w}r${r}
    # A fresh database per round (the fixture's server, its own superuser).
    url=$(cat "$work/pg/url")
    psql -q "$url" -c "CREATE DATABASE $db" >/dev/null
    url=${url%/*}/$db
  else
    url=$dir/catalog.db
  fi
  local shared=(--catalog "$url" --storage "$dir/store" --api-key bench-key
                --ladder 360p:800k,240p:400k --preset veryfast --segment-seconds 2)
  local port; port=$(free_port)
  local api=http://127.0.0.1:$port
  start_node "$dir/api/log" --roles api,origin --listen "127.0.0.1:$port" \
    --data "$dir/api/data" "${shared[@]}"
  for i in $(seq "$videos"); do
    "$cli_bin" upload "$work/source.mp4" --server "$api" --api-key bench-key >/dev/null 2>&1
  done
  local start; start=$(now)
  for i in $(seq "$w"); do
    mkdir -p "$dir/w$i"
    spawn_node "$dir/w$i/log" --roles worker --listen 127.0.0.1:0 --data "$dir/w$i/data" \
      --transcode-threads "$threads" --chunk-seconds "$chunk" "${shared[@]}"
  done
  local ready failed reason
  while :; do
    read -r ready failed reason <<<"$(counts "$api")"
    [ "$failed" -gt 0 ] && { echo "a transcode failed: $reason" >&2; exit 1; }
    [ "$ready" -ge "$videos" ] && break
    sleep 0.1
  done
  python3 -c "print(f'{$(now) - $start:.2f}')"
  stop_nodes
  rm -rf "$dir"
}

declare -A times
for r in $(seq "$runs"); do
  for w in $workers; do
    t=$(round "$w" "$r")
    times[$w]="${times[$w]:-} $t"
    echo "run $r: W=$w ${t} s" >&2
  done
done

echo "$videos videos of ${seconds} s 640x360 -> 360p+240p+audio (veryfast, 2 s segments)," \
  "catalog $catalog, --transcode-threads $threads, --chunk-seconds $chunk, $(nproc) cores," \
  "median of $runs," \
  "load average at the end $(cut -d" " -f1-3 /proc/loadavg)"
# Ideal: the first W's time scaled by W (W=1 time / W); the cores bound it at cores/threads.
python3 - "$videos" "$(nproc)" "$threads" $(for w in $workers; do echo "$w:$(echo ${times[$w]} | tr ' ' ,)"; done) <<'PY'
import statistics, sys
n, cores, threads = map(int, sys.argv[1:4])
rows = [(int(w), statistics.median(map(float, t.split(",")))) for w, t in (a.split(":") for a in sys.argv[4:])]
w0, t0 = rows[0]
print(f"{'workers':<8} {'wall s':>8} {'videos/min':>11} {'speedup':>8} {'ideal s':>8} {'to ideal':>9} {'cores allow':>12}")
for w, t in rows:
    ideal = t0 * w0 / w
    print(f"{w:<8} {t:8.2f} {n * 60 / t:11.1f} {t0 / t:7.2f}x {ideal:8.2f} {ideal / t:9.0%} {min(w, max(1, cores // threads)):11d}x")
PY
