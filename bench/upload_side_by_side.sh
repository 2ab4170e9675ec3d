#!/usr/bin/env bash
# Side-by-side upload throughput: streamlet-server vs the reference Node tus server
# (@tus/server + @tus/file-store), same file, same client (curl: one tus POST, then one
# streaming PATCH of the whole file), alternating runs over loopback. Prints MB/s per run,
# the medians, the ratio, each server's peak memory (VmHWM, from the first upload on) and CPU
# seconds per GB. Figures are printed, never asserted.
#
# streamlet-server runs twice: as shipped (every acknowledged byte fsynced first) and with
# --unsafe-no-fsync, which matches what @tus/server's file store promises (it never fsyncs),
# so the like-for-like ratio is visible even where the disk, not the server, is the limit.
#
#   bench/upload_side_by_side.sh [--build build] [--size-mb 500] [--runs 5] [--big-gb 2]
#                                [--scratch DIR]
#
# --scratch DIR puts the input file and every server's data dir under DIR (default $TMPDIR or
# /tmp). On a shared or throttled disk, --scratch /dev/shm takes the disk out of the figures
# and measures the servers themselves (fsync is then nearly free).
# --big-gb N additionally uploads an N GB file to a fresh streamlet-server and reports its
# peak memory during that upload. Scratch files live in a temp dir that is removed on exit.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=build
size_mb=500
runs=5
big_gb=0
scratch=${TMPDIR:-/tmp}
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --size-mb) size_mb=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --big-gb) big_gb=$2; shift 2 ;;
    --scratch) scratch=$2; shift 2 ;;
    *) echo "usage: $0 [--build DIR] [--size-mb N] [--runs N] [--big-gb N] [--scratch DIR]" >&2; exit 2 ;;
  esac
done
server_bin=$(cd "$build" && pwd)/server/streamlet-server
[ -x "$server_bin" ] || { echo "no $server_bin: build streamlet-server first" >&2; exit 2; }
command -v node >/dev/null && command -v npm >/dev/null || { echo "node/npm needed for the reference server" >&2; exit 2; }
command -v curl >/dev/null || { echo "curl needed" >&2; exit 2; }

work=$(mktemp -d "$scratch/streamlet-upload-bench.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# The reference server's packages, from the committed lockfile.
if [ ! -d "$here/upload_node/node_modules" ]; then
  (cd "$here/upload_node" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

# Waits for "listening on URL" in a log; prints URL.
wait_url() {
  for _ in $(seq 200); do
    url=$(grep -o 'listening on http://[^ ]*' "$1" | head -1 | sed 's/listening on //') || true
    [ -n "$url" ] && { echo "$url"; return; }
    sleep 0.05
  done
  echo "server did not start: $(cat "$1")" >&2; exit 1
}

start_streamlet() {  # $1 data dir, then extra flags
  local dir=$1; shift
  "$server_bin" --listen 127.0.0.1:0 --data "$dir" --api-key bench "$@" >"$dir.log" 2>&1 &
  s_pid=$!; pids+=("$s_pid")
  s_url=$(wait_url "$dir.log")/v1/uploads
}
start_node() {  # $1 data dir
  mkdir -p "$1"
  node "$here/upload_node/tus_server.mjs" --port 0 --dir "$1" >"$1.log" 2>&1 &
  n_pid=$!; pids+=("$n_pid")
  n_url=$(wait_url "$1.log")
}

# One tus upload of $2 to endpoint $1 with curl; prints MB/s. The upload is then terminated
# so disk use stays flat across runs.
upload() {
  local endpoint=$1 file=$2 size loc out code secs
  size=$(stat -c %s "$file")
  loc=$(curl -sS -D - -o /dev/null -X POST -H 'Tus-Resumable: 1.0.0' -H "Upload-Length: $size" \
        -H 'Authorization: Bearer bench' "$endpoint" | tr -d '\r' | awk 'tolower($1)=="location:"{print $2}')
  [ -n "$loc" ] || { echo "create failed at $endpoint" >&2; exit 1; }
  case "$loc" in /*) loc="${endpoint%%/v1/*}${loc}" ;; esac
  out=$(curl -sS -o /dev/null -w '%{http_code} %{time_total}' -X PATCH -T "$file" \
        -H 'Tus-Resumable: 1.0.0' -H 'Upload-Offset: 0' -H 'Expect:' \
        -H 'Content-Type: application/offset+octet-stream' -H 'Authorization: Bearer bench' "$loc")
  code=${out%% *}; secs=${out#* }
  [ "$code" = 204 ] || { echo "PATCH to $loc answered $code" >&2; exit 1; }
  curl -sS -o /dev/null -X DELETE -H 'Tus-Resumable: 1.0.0' -H 'Authorization: Bearer bench' "$loc"
  awk -v b="$size" -v s="$secs" 'BEGIN{printf "%.1f", b/1e6/s}'
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
cpu_per_gb() {  # pid, ticks before, bytes uploaded
  awk -v t0="$2" -v t1="$(cpu_ticks "$1")" -v hz="$(getconf CLK_TCK)" -v b="$3" \
    'BEGIN{printf "%.2f", (t1-t0)/hz/(b/1e9)}'
}
peak_mb() { awk '/VmHWM/{printf "%.1f", $2/1024}' "/proc/$1/status"; }
# Peak RSS counts from here on: start-up work (a new data dir hashes the generated admin
# password with argon2id, 19 MiB) is not the upload path's memory.
reset_peak() { echo 5 >"/proc/$1/clear_refs" 2>/dev/null || true; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

echo "generating ${size_mb} MB of random data..."
head -c $((size_mb * 1000 * 1000)) /dev/urandom >"$work/input.bin"
start_streamlet "$work/streamlet"
d_url=$s_url; d_pid=$s_pid
start_streamlet "$work/streamlet-nofsync" --unsafe-no-fsync
u_url=$s_url; u_pid=$s_pid
start_node "$work/node"
echo "streamlet-server:                   $d_url (pid $d_pid)"
echo "streamlet-server --unsafe-no-fsync: $u_url (pid $u_pid)"
echo "@tus/server:                        $n_url (pid $n_pid)"
for p in "$d_pid" "$u_pid" "$n_pid"; do reset_peak "$p"; done
for url in "$d_url" "$u_url" "$n_url"; do  # warm-up: page cache, first-touch allocations
  upload "$url" "$work/input.bin" >/dev/null
done

bytes=$(( size_mb * 1000 * 1000 * runs ))
d0=$(cpu_ticks "$d_pid"); u0=$(cpu_ticks "$u_pid"); n0=$(cpu_ticks "$n_pid")
d_rates=(); u_rates=(); n_rates=()
for i in $(seq "$runs"); do
  # Rotate the order so no server always goes first (or right after another's disk writes).
  case $((i % 3)) in
    1) d=$(upload "$d_url" "$work/input.bin"); u=$(upload "$u_url" "$work/input.bin"); n=$(upload "$n_url" "$work/input.bin") ;;
    2) n=$(upload "$n_url" "$work/input.bin"); d=$(upload "$d_url" "$work/input.bin"); u=$(upload "$u_url" "$work/input.bin") ;;
    0) u=$(upload "$u_url" "$work/input.bin"); n=$(upload "$n_url" "$work/input.bin"); d=$(upload "$d_url" "$work/input.bin") ;;
  esac
  d_rates+=("$d"); u_rates+=("$u"); n_rates+=("$n")
  echo "run $i: streamlet ${d} MB/s   streamlet (no fsync) ${u} MB/s   @tus/server ${n} MB/s"
done
d_med=$(median "${d_rates[@]}"); u_med=$(median "${u_rates[@]}"); n_med=$(median "${n_rates[@]}")
echo
echo "file: ${size_mb} MB, ${runs} alternating runs, loopback, client: curl (one POST + one PATCH)"
echo "scratch: $work ($(df --output=fstype "$work" | tail -1)), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-36s median %8s MB/s   peak RSS %6s MB   CPU %5s s/GB\n' \
  "streamlet-server (fsync, default)" "$d_med" "$(peak_mb "$d_pid")" "$(cpu_per_gb "$d_pid" "$d0" "$bytes")" \
  "streamlet-server --unsafe-no-fsync" "$u_med" "$(peak_mb "$u_pid")" "$(cpu_per_gb "$u_pid" "$u0" "$bytes")" \
  "@tus/server + @tus/file-store" "$n_med" "$(peak_mb "$n_pid")" "$(cpu_per_gb "$n_pid" "$n0" "$bytes")"
awk -v a="$d_med" -v u="$u_med" -v b="$n_med" 'BEGIN{
  printf "ratio streamlet (fsync) / @tus/server:    %.2fx\n", a/b
  printf "ratio streamlet (no fsync) / @tus/server: %.2fx\n", u/b}'

if [ "$big_gb" != 0 ]; then
  kill "$n_pid" "$u_pid"; rm -f "$work/input.bin"
  echo
  echo "generating ${big_gb} GB of random data..."
  head -c $((big_gb * 1000 * 1000 * 1000)) /dev/urandom >"$work/big.bin"
  start_streamlet "$work/streamlet-big"
  reset_peak "$s_pid"
  rate=$(upload "$s_url" "$work/big.bin")
  printf 'streamlet-server  %s GB upload: %s MB/s   peak RSS %s MB\n' "$big_gb" "$rate" "$(peak_mb "$s_pid")"
fi
