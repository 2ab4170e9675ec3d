#!/usr/bin/env bash
# The job queue benchmarks (bench_queue) on SQLite and on a throwaway PostgreSQL started like
# the tests' fixture (tests/support/postgres_server.sh), stopped afterwards.
#   bench/queue_bench.sh [BUILD_DIR]   (default: build)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
dir=$(mktemp -d /tmp/streamlet-queue-bench.XXXXXX)
trap 'bash "$here/../tests/support/postgres_server.sh" stop "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
bash "$here/../tests/support/postgres_server.sh" start "$dir" >/dev/null
if [[ -f "$dir/url" ]]; then
  export STREAMLET_BENCH_POSTGRES=$(cat "$dir/url")
else
  echo "PostgreSQL not available: $(cat "$dir/unavailable" 2>/dev/null); SQLite only" >&2
fi
"$build/bench/bench_queue" --benchmark_counters_tabular=true
