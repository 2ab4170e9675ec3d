#!/usr/bin/env bash
# Chunk-parallel encoding speed-up: one `streamlet-cli transcode` of a generated 1080p source
# with 1, 2 and 4 chunk workers of one thread each (--chunk-workers W --threads W), beside
# the unchunked transcode on one thread, alternating runs; prints the median wall time of
# each and its ratio to the 1-worker chunked run and to the ideal 1/W. A performance report,
# not a test: nothing is asserted. Run it under `flock /work/bench.lock` on a shared machine.
#
#   bench/chunked.sh [--duration S] [--ladder 720p,360p] [--chunk-seconds 30]
#                    [--workers 1,2,4] [--runs N] [--cli PATH] [--keep]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")

duration=120
ladder=720p,360p
chunk=30
segment=6
workers=1,2,4
runs=1
cli="$root/build/cli/streamlet-cli"
keep=0

while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=${2:?}; shift 2 ;;
    --ladder) ladder=${2:?}; shift 2 ;;
    --chunk-seconds) chunk=${2:?}; shift 2 ;;
    --workers) workers=${2:?}; shift 2 ;;
    --runs) runs=${2:?}; shift 2 ;;
    --cli) cli=${2:?}; shift 2 ;;
    --keep) keep=1; shift ;;
    -h | --help) sed -n 2,9p "$0"; exit 0 ;;
    *) echo "chunked: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -x "$cli" ] || { echo "chunked: no $cli (build streamlet-cli)" >&2; exit 2; }

scratch=$(mktemp -d /tmp/streamlet-chunk-bench.XXXXXX)
[ "$keep" = 1 ] || trap 'rm -rf "$scratch"' EXIT
src="$scratch/source.mp4"
echo "generating ${duration} s of 1080p30 testsrc2 + stereo sine ..." >&2
ffmpeg -nostdin -v error -f lavfi -i "testsrc2=size=1920x1080:rate=30:duration=$duration" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=$duration" \
  -c:v libx264 -preset ultrafast -crf 18 -g 60 -pix_fmt yuv420p -c:a aac -ac 2 "$src"

# One transcode; prints "wall_seconds,cpu_seconds" (user + system, every thread).
transcode() {
  local out="$scratch/out"
  rm -rf "$out"
  /usr/bin/time -f "%e %U %S" -o "$scratch/time" "$cli" transcode "$src" -o "$out" --quiet \
    --no-poster --ladder "$ladder" --segment-seconds "$segment" "$@" >/dev/null
  awk '{printf "%s,%.2f", $1, $2 + $3}' "$scratch/time"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

declare -A times cpus
IFS=, read -ra ws <<<"$workers"
record() {  # record KEY ARGS...: one run, wall and CPU seconds kept under KEY
  local key=$1 r
  shift
  r=$(transcode "$@")
  times[$key]+="${r%,*} "
  cpus[$key]+="${r#*,} "
}
for ((r = 1; r <= runs; r++)); do
  record whole --threads 1
  for w in "${ws[@]}"; do
    record "$w" --threads "$w" --chunk-seconds "$chunk" --chunk-workers "$w"
  done
done
med() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | median; }

printf 'source %s s 1080p30, ladder %s, %s s chunks, %s s segments, %s run(s), %s cores, load %s\n' \
  "$duration" "$ladder" "$chunk" "$segment" "$runs" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-24s %8s %8s  %s\n' "" "wall" "CPU" "wall vs 1 worker (ideal 1/W)"
printf '%-24s %7.1fs %7.1fs\n' "unchunked, 1 thread" "$(med "${times[whole]}")" "$(med "${cpus[whole]}")"
base=""
for w in "${ws[@]}"; do
  t=$(med "${times[$w]}")
  [ -n "$base" ] || base=$t
  printf '%-24s %7.1fs %7.1fs  %.2fx (ideal %.2fx)\n' "$w chunk worker(s) x 1" "$t" \
    "$(med "${cpus[$w]}")" "$(echo "$t / $base" | bc -l)" "$(echo "1 / $w" | bc -l)"
done
