#!/usr/bin/env bash
# bench_catalog on SQLite, then on a throwaway PostgreSQL (tests/support/postgres_server.sh:
# fsync off, on this machine's loopback), in the same run.
# Usage: bash bench/catalog_side_by_side.sh [BUILD_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
bench="$build/bench/bench_catalog"
[[ -x "$bench" ]] || { echo "build $bench first (cmake --build $build --target bench_catalog)" >&2; exit 1; }
dir=$(mktemp -d /tmp/streamlet-bench-pg.XXXXXX)
trap 'bash "$here/../tests/support/postgres_server.sh" stop "$dir"; rm -rf "$dir"' EXIT
bash "$here/../tests/support/postgres_server.sh" start "$dir"
[[ -f "$dir/url" ]] || { cat "$dir/unavailable"; exit 1; }
url=$(cat "$dir/url")
psql -q "$url" -c "CREATE DATABASE bench"
echo "== SQLite"
"$bench" --benchmark_min_time=1
echo "== PostgreSQL"
STREAMLET_BENCH_CATALOG="${url%/postgres}/bench" "$bench" --benchmark_min_time=1
