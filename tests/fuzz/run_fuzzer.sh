#!/usr/bin/env bash
# One fuzz target for a while over its seed corpus: exit 0 when nothing was found, libFuzzer's
# non-zero exit (and the crashing input, printed in base64) otherwise, 77 when not built here.
#   run_fuzzer.sh BINARY SEED_CORPUS SECONDS
set -uo pipefail
binary=$1 seeds=$2 seconds=$3
if [ ! -x "$binary" ]; then
  echo "SKIPPED: $binary was not built (no clang++ with libFuzzer)"
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus"
cd "$work"
# New inputs go to the scratch corpus; the seeds in the repository are only read.
"$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -error_exitcode=1 -timeout_exitcode=1 \
  "$work/corpus" "$seeds" 2>&1 | tail -25
rc=${PIPESTATUS[0]}
for crash in "$work"/crash-* "$work"/timeout-* "$work"/leak-* "$work"/oom-*; do
  [ -f "$crash" ] && echo "found: $(basename "$crash"): $(base64 -w0 "$crash")"
done
exit "$rc"
