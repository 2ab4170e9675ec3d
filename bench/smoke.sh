#!/usr/bin/env bash
# Runs every Google Benchmark program briefly: a smoke run whose figures are
# printed for the log, never asserted.
set -uo pipefail
build=${1:-build}
status=0
for b in "$build"/bench/bench_*; do
  [ -x "$b" ] || continue
  # Only Google Benchmark programs: others (bench_s3_storage) take arguments their scripts give.
  if ! "$b" --help 2>/dev/null | grep -q -- "--benchmark_filter"; then
    echo "== $(basename "$b"): driven by its own script, not run here"
    continue
  fi
  echo "== $(basename "$b") (smoke run)"
  "$b" --benchmark_min_time=0.05 || status=$?
done
exit $status
