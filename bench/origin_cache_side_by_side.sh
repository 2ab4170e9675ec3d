#!/usr/bin/env bash
# Origin nodes side by side in one run: serving /media from local files (today's single
# machine), from a remote storage through the local object cache (warm), and from the same
# remote storage without the cache. All three are bench/origin_cache_node (the origin front +
# streamlet::origin) on loopback, loaded with wrk; runs alternate between them. Prints req/s,
# p50/p99 and MB/s per run, then medians. Figures are printed, never asserted.
#
#   bench/origin_cache_side_by_side.sh [--build build] [--runs 3] [--seconds 5]
#       [--storage remote-like] [--latency-us 500] [--revalidate-ms 0] [--threads 0]
#
# --storage is the inner storage of the cached node: "remote-like" (the same files without
# descriptors, --latency-us per open/stat/read_at, like a network store); an s3:// URL when
# the S3 backend lands. --revalidate-ms is CacheOptions::revalidate_after (0: every request
# checks the object's identity with the inner storage, one stat round trip).
# Needs: a built origin_cache_node (cmake --build build --target origin_cache_node), wrk, curl.
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
build=$(cd "$build" && pwd)
node=$build/bench/origin_cache_node
[ -x "$node" ] || { echo "no $node: cmake --build $build --target origin_cache_node" >&2; exit 2; }
for tool in wrk curl python3; do command -v "$tool" >/dev/null || { echo "$tool needed" >&2; exit 2; }; done
ulimit -n 65536 2>/dev/null || ulimit -n 8192 2>/dev/null || true

work=$(mktemp -d "${TMPDIR:-/tmp}/streamlet-origin-cache-bench.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
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
start_node() {  # name args...
  local name=$1; shift
  "$node" "$@" <"$work/stdin" >"$work/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do grep -q "listening on" "$work/$name.log" && break; sleep 0.05; done
  grep -q "listening on" "$work/$name.log" || { cat "$work/$name.log" >&2; exit 1; }
  awk '/listening on/ {print $3}' "$work/$name.log"
}
inner_flags=(--storage "$kind" --latency-us "$latency_us")
port_local=$(start_node local --root "$work/store" --storage local --threads "$threads")
port_cached=$(start_node cached --root "$work/store" "${inner_flags[@]}" --threads "$threads" \
  --cache-dir "$work/cache" --cache-bytes $((256 << 20)) --revalidate-ms "$revalidate_ms")
port_remote=$(start_node remote --root "$work/store" "${inner_flags[@]}" --threads "$threads")

playlist=/media/$video/720p/playlist.m3u8
seg=/media/$video/720p/seg_00001.m4s
for port in "$port_local" "$port_cached" "$port_remote"; do
  for path in "$playlist" "$seg"; do  # also warms the cache
    curl -sf -o /dev/null "http://127.0.0.1:$port$path" || { echo "cannot fetch :$port$path" >&2; exit 1; }
  done
done
cmp <(curl -s "http://127.0.0.1:$port_cached$seg") "$work/store$seg" || { echo "cached bytes differ" >&2; exit 1; }
echo "inner: $kind, ${latency_us} us per call; revalidate ${revalidate_ms} ms; $(nproc) cores; segment 1 MiB, playlist $(stat -c %s "$work/store$playlist") bytes"

results=$work/results.txt
: >"$results"
run_wrk() {  # name scenario connections url
  local out
  out=$(wrk -t2 -c"$3" -d"${seconds}s" --latency "$4" 2>&1) || true
  python3 - "$1" "$2" "$out" >>"$results" <<'PY'
import re, sys
name, scenario, out = sys.argv[1], sys.argv[2], sys.argv[3]
def lat(label):
    m = re.search(r"^\s*%s%%\s+([\d.]+)(us|ms|s)" % label, out, re.M)
    if not m: return float("nan")
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
tr = re.search(r"Transfer/sec:\s+([\d.]+)(B|KB|MB|GB)", out)
mbs = float(tr.group(1)) * {"B": 1e-6, "KB": 1e-3, "MB": 1.0, "GB": 1e3}[tr.group(2)] * 1.048576 if tr else float("nan")
errs = re.search(r"Socket errors:.*|Non-2xx or 3xx responses: \d+", out)
print(f"{scenario}\t{name}\t{float(rps.group(1)) if rps else float('nan'):.1f}\t{lat('50'):.2f}\t{lat('99'):.2f}\t{mbs:.1f}\t{errs.group(0) if errs else ''}")
PY
  tail -1 "$results"
}
printf 'scenario\tnode\treq/s\tp50 ms\tp99 ms\tMB/s\terrors\n'
for i in $(seq "$runs"); do
  for scenario in "playlist-64:64:$playlist" "segment-16:16:$seg"; do
    IFS=: read -r name conns path <<<"$scenario"
    run_wrk local "$name" "$conns" "http://127.0.0.1:$port_local$path"
    run_wrk cached "$name" "$conns" "http://127.0.0.1:$port_cached$path"
    run_wrk uncached "$name" "$conns" "http://127.0.0.1:$port_remote$path"
  done
done

echo
echo "medians over $runs runs (${seconds}s each, wrk -t2):"
python3 - "$results" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
print(f"{'scenario':<14}{'node':<10}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'MB/s':>9}")
for scenario in dict.fromkeys(r[0] for r in rows):
    med = {}
    for node in ("local", "cached", "uncached"):
        sel = [r for r in rows if r[0] == scenario and r[1] == node]
        med[node] = [statistics.median(float(r[k]) for r in sel) for k in (2, 3, 4, 5)]
        m = med[node]
        print(f"{scenario:<14}{node:<10}{m[0]:>10.0f}{m[1]:>9.2f}{m[2]:>9.2f}{m[3]:>9.1f}")
    c, l = med["cached"], med["local"]
    print(f"{scenario:<14}{'ratio':<10}{c[0]/l[0]:>10.2f}{c[1]/l[1]:>9.2f}{c[2]/l[2]:>9.2f}{c[3]/l[3]:>9.2f}   (cached/local)")
PY
