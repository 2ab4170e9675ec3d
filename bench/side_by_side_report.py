#!/usr/bin/env python3
"""Formats bench/side_by_side.sh results (stdlib only).

  side_by_side_report.py shapes RESULTS.tsv QUALITY.tsv cores=N key=value...
  side_by_side_report.py lengths RESULTS.tsv key=value...

RESULTS.tsv rows: shape, label (streamlet, ffmpeg or limit), run (or source
seconds), wall seconds, peak RSS KiB, user CPU seconds, system CPU seconds.
QUALITY.tsv rows: shape, key (psnr_<label>, kbps_<label>, desc), value.
The other key=value arguments are printed as the header.
"""
import statistics
import sys


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            shape, label, run, wall, rss, user, sys_ = line.rstrip("\n").split("\t")
            rows.append((shape, label, run, float(wall), int(rss), float(user) + float(sys_)))
    return rows


def load_quality(path):
    q = {}
    with open(path) as f:
        for line in f:
            shape, key, value = line.rstrip("\n").split("\t", 2)
            q.setdefault(shape, {})[key] = value
    return q


def as_float(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def median_row(rows, shape, label):
    """(wall, rss MB, CPU utilisation 0..1 over all cores) of the median-wall run, or None."""
    runs = sorted((r for r in rows if r[0] == shape and r[1] == label), key=lambda r: r[3])
    if not runs:
        return None
    wall = statistics.median(r[3] for r in runs)
    rss = statistics.median(r[4] for r in runs) / 1024
    cpu = statistics.median(r[5] for r in runs)
    return wall, rss, cpu


def fmt(value, spec, missing="n/a"):
    return format(value, spec) if value is not None else missing


def shapes(rows, quality, meta):
    cores = int(dict(meta).get("cores", "1"))
    print("side-by-side: " + ", ".join(f"{k} {v}" for k, v in meta))
    head = (f"{'shape':<9}{'wall s/f':>14}{'ratio':>7}{'CPU s/f':>11}{'PSNR s/f':>14}"
            f"{'RSS MB s/f':>12}{'limit':>8}{'s/limit':>8}  source, ladder")
    print(head)
    for shape in dict.fromkeys(r[0] for r in rows):
        s, f, lim = (median_row(rows, shape, l) for l in ("streamlet", "ffmpeg", "limit"))
        q = quality.get(shape, {})
        ps, pf = as_float(q.get("psnr_streamlet")), as_float(q.get("psnr_ffmpeg"))
        util = lambda m: m[2] / (m[0] * cores) * 100 if m and m[0] > 0 else None
        limit = lim[2] / cores if lim else None  # CPU-seconds of the 1-thread run, spread on every core
        ratio = s[0] / f[0] if s and f and f[0] > 0 else None
        pair = lambda a, b, spec, unit="": f"{fmt(a, spec)}/{fmt(b, spec)}{unit}"
        print(f"{shape:<9}"
              f"{pair(s and s[0], f and f[0], '.2f'):>14}"
              f"{fmt(ratio, '.2f') + 'x':>7}"
              f"{pair(util(s), util(f), '.0f', '%'):>11}"
              f"{pair(ps, pf, '.2f'):>14}"
              f"{pair(s and s[1], f and f[1], '.0f'):>12}"
              f"{fmt(limit, '.2f'):>8}"
              f"{fmt(s[0] / limit if s and limit else None, '.2f') + 'x':>8}"
              f"  {q.get('desc', '')}")
    print("wall: median seconds, streamlet/ffmpeg; ratio below 1 means streamlet is faster.")
    print(f"CPU: user+sys over wall x {cores} cores. PSNR: top rendition vs the source, dB "
          "(comparable when the bitrates match).")
    print("limit: CPU seconds of the same ladder encoded single-threaded (decode, scale, "
          f"x264 threads=1, audio, mux) over {cores} cores; s/limit: streamlet wall over it.")
    for shape, q in quality.items():
        if "kbps_streamlet" in q or "kbps_ffmpeg" in q:
            print(f"  {shape}: top rendition {q.get('kbps_streamlet', 'n/a')} / "
                  f"{q.get('kbps_ffmpeg', 'n/a')} kb/s")


def lengths(rows, meta):
    print("streamlet peak RSS by input length: " + ", ".join(f"{k} {v}" for k, v in meta))
    print(f"{'source':>10}{'wall':>10}{'peak RSS':>12}")
    for _, _, secs, wall, rss, _ in rows:
        print(f"{secs + ' s':>10}{wall:>8.1f} s{rss / 1024:>9.0f} MB")
    if len(rows) >= 2 and rows[0][4] > 0:
        first, last = rows[0], rows[-1]
        print(f"RSS {last[2]} s / {first[2]} s = {last[4] / first[4]:.2f}x "
              f"(flat memory means close to 1.00x while the input is "
              f"{int(last[2]) / max(int(first[2]), 1):.0f}x longer)")


def meta_of(args):
    return [tuple(a.partition("=")[::2]) for a in args]


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("shapes", "lengths"):
        sys.exit(__doc__)
    rows = load(sys.argv[2])
    if sys.argv[1] == "shapes":
        if len(sys.argv) < 4:
            sys.exit(__doc__)
        shapes(rows, load_quality(sys.argv[3]), meta_of(sys.argv[4:]))
    else:
        lengths(rows, meta_of(sys.argv[3:]))


if __name__ == "__main__":
    main()
