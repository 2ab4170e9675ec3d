#!/usr/bin/env bash
# Upload through S3 (a throwaway Ceph RGW) versus local disk, and ranged reads, in one run:
#   bash bench/s3_storage.sh BUILD_DIR [BYTES]     (default 512 MiB)
set -euo pipefail
build=${1:-build}
bytes=${2:-536870912}
here=$(cd "$(dirname "$0")" && pwd)
rgw=$(mktemp -d /tmp/bench-rgw-XXXXXX)
trap 'bash "$here/../tests/support/rgw_server.sh" stop "$rgw"' EXIT
bash "$here/../tests/support/rgw_server.sh" start "$rgw"
"$build/bench/bench_s3_storage" local "$bytes"
"$build/bench/bench_s3_storage" s3 "$bytes" "$rgw"
