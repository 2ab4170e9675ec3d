#!/usr/bin/env bash
# One big tus upload through streamlet-server (an API node) to local storage and to S3 (a
# throwaway Ceph RGW, tests/support/rgw_server.sh), with streamlet-cli over loopback: MB/s as
# the client sees it and the server's peak resident memory (VmHWM), which must not grow with
# the upload's size. bench/s3_storage.sh measures the upload store alone, in process; this is
# the whole server. The file, the stores and RGW's data are removed at the end.
#
#   bench/s3_upload_server.sh [--build build] [--bytes 2147483648]
#
# Needs a built streamlet-server and streamlet-cli, python3, curl, ceph-mon, ceph-osd, radosgw, and
# twice --bytes free under $TMPDIR (the file, then one store at a time; RGW's is sparse).
set -euo pipefail
shopt -s inherit_errexit

build=build bytes=2147483648
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --bytes) bytes=$2; shift 2 ;;
    *) sed -n '8p' "$0" >&2; exit 2 ;;
  esac
done
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$build" && pwd)
server_bin=$build/server/streamlet-server
cli_bin=$build/cli/streamlet-cli
for b in "$server_bin" "$cli_bin"; do [ -x "$b" ] || { echo "no $b: build it first" >&2; exit 2; }; done

work=$(mktemp -d "${TMPDIR:-/tmp}/streamlet-s3-upload.XXXXXX")
chmod 755 "$work"
# shellcheck source=server_nodes.sh
source "$src/bench/server_nodes.sh"
cleanup() {
  stop_nodes
  bash "$src/tests/support/rgw_server.sh" stop "$work/rgw" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

bash "$src/tests/support/rgw_server.sh" start "$work/rgw" >"$work/rgw.log" 2>&1 ||
  { echo "RGW did not start: $(tail -1 "$work/rgw.log")" >&2; exit 2; }
set -a; source "$work/rgw/env"; set +a
python3 - "$work/upload.bin" "$bytes" <<'PY'
import os, sys
piece = os.urandom(1 << 20)
with open(sys.argv[1], "wb") as f:
    left = int(sys.argv[2])
    while left > 0:
        f.write(piece[:min(left, len(piece))])
        left -= len(piece)
PY
# The bucket must exist before a node opens it (as tests/cluster/multihost_test.sh makes it).
bucket=streamlet-upload-bench
curl -sf -X PUT --aws-sigv4 "aws:amz:$S3_REGION:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
  -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$S3_ENDPOINT/$bucket" -o /dev/null ||
  { echo "cannot create the bucket" >&2; exit 1; }
echo "$bytes bytes with streamlet-cli (32 MiB requests), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
printf '%-8s %10s %10s %14s %14s\n' storage seconds "MB/s" "VmHWM MiB" "VmRSS idle MiB"
for storage in local s3; do
  dir=$work/$storage
  mkdir -p "$dir"
  if [ "$storage" = s3 ]; then
    target="s3://$bucket?endpoint=$S3_ENDPOINT&region=$S3_REGION&path_style=1"
  else
    target=$dir/store
  fi
  port=$(free_port)
  start_node "$dir/log" --roles api --listen "127.0.0.1:$port" --data "$dir/data" \
    --api-key bench-key --storage "$target" --max-upload-size $((bytes + 1))
  pid=${pids[-1]}
  idle=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  start=$(date +%s.%N)
  "$cli_bin" upload "$work/upload.bin" --server "http://127.0.0.1:$port" --api-key bench-key \
    >/dev/null 2>"$dir/cli.log" || { echo "$storage: $(tail -1 "$dir/cli.log")" >&2; exit 1; }
  end=$(date +%s.%N)
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  python3 -c "import sys; b, s, e, h, i = map(float, sys.argv[1:6]); print(f'{sys.argv[6]:<8} {e - s:10.1f} {b / 1e6 / (e - s):10.1f} {h / 1024:14.1f} {i / 1024:14.1f}')" \
    "$bytes" "$start" "$end" "$hwm" "$idle" "$storage"
  stop_nodes
  rm -rf "$dir"
done
