# Sourced by the origin side-by-side scripts (origin_side_by_side.sh,
# origin_cache_side_by_side.sh): alternating wrk runs recorded in one results file, then the
# medians per scenario and each server's ratio to a reference.
#
#   results=FILE                            where the runs go (one tab-separated row each)
#   wrk_run NAME SCENARIO CONNECTIONS URL   runs wrk -t2 for $seconds s, appends and prints the row
#   wrk_medians REFERENCE NAME...           medians of every NAME per scenario, then NAME/REFERENCE
# Needs wrk and python3.

wrk_run() {
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

wrk_medians() {
  python3 - "$results" "$@" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
reference, names = sys.argv[2], sys.argv[3:]
print(f"{'scenario':<14}{'server':<12}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'MB/s':>9}")
for scenario in dict.fromkeys(r[0] for r in rows):
    med = {}
    for name in names:
        sel = [r for r in rows if r[0] == scenario and r[1] == name]
        if not sel: continue
        med[name] = m = [statistics.median(float(r[k]) for r in sel) for k in (2, 3, 4, 5)]
        print(f"{scenario:<14}{name:<12}{m[0]:>10.0f}{m[1]:>9.2f}{m[2]:>9.2f}{m[3]:>9.1f}")
    base = med.get(reference)
    for name, m in med.items():
        if name == reference or not base: continue
        r = [a / b if b else float("nan") for a, b in zip(m, base)]
        print(f"{scenario:<14}{'ratio':<12}{r[0]:>10.2f}{r[1]:>9.2f}{r[2]:>9.2f}{r[3]:>9.2f}   ({name}/{reference})")
PY
}
