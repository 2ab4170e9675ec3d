#!/usr/bin/env bash
# Origin nodes side by side in one run: serving /media from local files (today's single
# machine), from a remote storage through the local object cache (warm), and from the same
# remote storage without the cache. All three are bench/origin_cache_node (the origin front +
# streamlet::origin) on loopback, loaded with wrk; runs alternate between them. Prints the
# first (cold) fetch of each object, req/s, p50/p99 and MB/s per run, then medians and the
# ratios to local files. Figures are printed, never asserted.
#
#   bench/origin_cache_side_by_side.sh [--build build] [--runs 3] [--seconds 5]
#       [--storage remote-like|rgw] [--latency-us 500] [--revalidate-ms 0] [--threads 0]
#
# --storage is the remote storage: "remote-like" (the same files without descriptors,
# --latency-us per open/stat/read_at, like a network store; tests/support/
# remote_like_storage.hpp) or "rgw", a real S3 bucket on a throwaway Ceph RGW started here
# (tests/support/rgw_server.sh, stopped and removed at the end) into which the objects are
# copied first. --revalidate-ms is CacheOptions::revalidate_after (0: every request checks the
# object's identity with the remote storage, one stat round trip: a HEAD on S3).
# Needs: a built origin_cache_node (cmake --build build --target origin_cache_node), wrk, curl;
# ceph-mon, ceph-osd and radosgw for rgw.
set -euo pipefail

build=build
runs=3
seconds=5
kind=remote-like
latency_us=500
revalidate_ms=0
threads=0
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --storage) kind=$2; shift 2 ;;
    --latency-us) latency_us=$2; shift 2 ;;
    --revalidate-ms) revalidate_ms=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    *) echo "usage: $0 [--build DIR] [--runs N] [--seconds N] [--storage KIND] [--latency-us N] [--revalidate-ms N] [--threads N]" >&2; exit 2 ;;
  esac
done
case "$kind" in remote-like|rgw) ;; *) echo "--storage remote-like|rgw" >&2; exit 2 ;; esac
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$build" && pwd)
node=$build/bench/origin_cache_node
[ -x "$node" ] || { echo "no $node: cmake --build $build --target origin_cache_node" >&2; exit 2; }
for tool in wrk curl python3; do command -v "$tool" >/dev/null || { echo "$tool needed" >&2; exit 2; }; done
ulimit -n 65536 2>/dev/null || ulimit -n 8192 2>/dev/null || true

work=$(mktemp -d "${TMPDIR:-/tmp}/streamlet-origin-cache-bench.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  [ "$kind" = rgw ] && bash "$src/tests/support/rgw_server.sh" stop "$work/rgw" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

# --- a packaged video's objects: a media playlist and a ~1 MB segment ----------------------
video=bench1
mkdir -p "$work/store/media/$video/720p"
head -c 1048576 /dev/urandom >"$work/store/media/$video/720p/seg_00001.m4s"
python3 - "$work/store/media/$video/720p/playlist.m3u8" <<'PY'
import sys
lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-TARGETDURATION:6", "#EXT-X-PLAYLIST-TYPE:VOD",
         '#EXT-X-MAP:URI="init.mp4"']
for i in range(1, 301):
    lines += ["#EXTINF:6.000,", "seg_%05d.m4s" % i]
lines.append("#EXT-X-ENDLIST")
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
PY

mkfifo "$work/stdin"
exec 3<>"$work/stdin"  # held open: the nodes serve until the script ends
# start_node NAME PORT_VAR ARGS...: in this shell (not $(...)), so cleanup knows its PID; the node
# must not inherit fd 3, or it would hold its own stdin open and outlive the script.
start_node() {
  local name=$1 var=$2; shift 2
  "$node" "$@" <"$work/stdin" >"$work/$name.log" 2>&1 3>&- &
  pids+=($!)
  for _ in $(seq 100); do grep -q "listening on" "$work/$name.log" && break; sleep 0.05; done
  grep -q "listening on" "$work/$name.log" || { cat "$work/$name.log" >&2; exit 1; }
  printf -v "$var" '%s' "$(awk '/listening on/ {print $3}' "$work/$name.log")"
}
if [ "$kind" = rgw ]; then
  bash "$src/tests/support/rgw_server.sh" start "$work/rgw" >"$work/rgw.log" 2>&1 ||
    { echo "RGW did not start: $(tail -1 "$work/rgw.log")" >&2; exit 2; }
  set -a; source "$work/rgw/env"; set +a
  url="s3://streamlet-bench?endpoint=$S3_ENDPOINT&region=$S3_REGION&path_style=1"
  # The uncached node starts first and copies the objects into the bucket.
  inner_flags=(--storage "$url")
  start_node remote port_remote "${inner_flags[@]}" --seed "$work/store" --threads "$threads"
  about="RGW (Ceph $(ceph --version 2>/dev/null | awk '{print $3}'), same machine)"
else
  inner_flags=(--root "$work/store" --storage "$kind" --latency-us "$latency_us")
  start_node remote port_remote "${inner_flags[@]}" --threads "$threads"
  about="$kind, ${latency_us} us per call"
fi
start_node local port_local --root "$work/store" --storage local --threads "$threads"
start_node cached port_cached "${inner_flags[@]}" --threads "$threads" \
  --cache-dir "$work/cache" --cache-bytes $((256 << 20)) --revalidate-ms "$revalidate_ms"

playlist=/media/$video/720p/playlist.m3u8
seg=/media/$video/720p/seg_00001.m4s
echo "remote: $about; revalidate ${revalidate_ms} ms; $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg);" \
  "segment 1 MiB, playlist $(stat -c %s "$work/store$playlist") bytes"
echo "first fetch (the cached node's is a cold miss and warms it), then a second:"
for node in local:$port_local cached:$port_cached uncached:$port_remote; do
  for path in "$playlist" "$seg"; do
    for fetch in first second; do
      t=$(curl -sf -o /dev/null -w '%{time_total}' "http://127.0.0.1:${node#*:}$path") ||
        { echo "cannot fetch ${node%%:*} $path" >&2; exit 1; }
      printf '  %-9s %-14s %-7s %7.2f ms\n' "${node%%:*}" "${path##*/}" "$fetch" "$(awk -v t="$t" 'BEGIN { print t * 1000 }')"
    done
  done
done
cmp <(curl -s "http://127.0.0.1:$port_cached$seg") "$work/store$seg" || { echo "cached bytes differ" >&2; exit 1; }
cmp <(curl -s "http://127.0.0.1:$port_remote$seg") "$work/store$seg" || { echo "remote bytes differ" >&2; exit 1; }

# shellcheck source=wrk_runs.sh
source "$src/bench/wrk_runs.sh"
results=$work/results.txt
: >"$results"
printf 'scenario\tnode\treq/s\tp50 ms\tp99 ms\tMB/s\terrors\n'
for i in $(seq "$runs"); do
  for scenario in "playlist-64:64:$playlist" "segment-16:16:$seg"; do
    IFS=: read -r name conns path <<<"$scenario"
    wrk_run local "$name" "$conns" "http://127.0.0.1:$port_local$path"
    wrk_run cached "$name" "$conns" "http://127.0.0.1:$port_cached$path"
    wrk_run uncached "$name" "$conns" "http://127.0.0.1:$port_remote$path"
  done
done

echo
echo "medians over $runs runs (${seconds}s each, wrk -t2):"
wrk_medians local local cached uncached
