#!/usr/bin/env bash
# The whole test suite: install what is missing, build once, run every test,
# then a short benchmark smoke run (printed, not asserted).
set -euo pipefail
cd "$(dirname "$0")/.."
# The servers the cluster backends and the mail test (aiosmtpd) run against (each test skips
# when one is absent).
bash scripts/install-deps.sh postgresql postgresql-contrib nginx ceph-mon ceph-osd radosgw python3-aiosmtpd
bash scripts/build.sh
jobs=$(nproc 2>/dev/null || echo 2)
(cd build && ctest --output-on-failure -j"$jobs")
if [ -f bench/smoke.sh ]; then
  bash bench/smoke.sh build
fi
