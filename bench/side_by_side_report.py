#!/usr/bin/env python3
"""Formats bench/side_by_side.sh results (stdlib only).

  side_by_side_report.py compare RESULTS.tsv key=value...
  side_by_side_report.py lengths RESULTS.tsv key=value...

RESULTS.tsv rows: label, run (or source seconds), wall seconds, peak RSS KiB.
Keys psnr_<label> and kbps_<label> add quality rows; other keys are printed
as the header.
"""
import statistics
import sys


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            label, run, wall, rss = line.split()
            rows.append((label, run, float(wall), int(rss)))
    return rows


def split_meta(args):
    meta, quality = [], {}
    for arg in args:
        key, _, value = arg.partition("=")
        if key.startswith(("psnr_", "kbps_")):
            quality[key] = value
        else:
            meta.append((key, value))
    return meta, quality


def as_float(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def compare(rows, meta, quality):
    labels = [l for l in ("streamlet", "ffmpeg") if any(r[0] == l for r in rows)]
    wall = {l: statistics.median(r[2] for r in rows if r[0] == l) for l in labels}
    rss = {l: statistics.median(r[3] for r in rows if r[0] == l) / 1024 for l in labels}
    print("side-by-side: " + ", ".join(f"{k} {v}" for k, v in meta))
    print(f"{'':24}" + "".join(f"{l:>14}" for l in labels))
    print(f"{'wall time (median)':24}" + "".join(f"{wall[l]:>12.2f} s" for l in labels), end="")
    if len(labels) == 2 and wall["ffmpeg"] > 0:
        print(f"   streamlet/ffmpeg = {wall['streamlet'] / wall['ffmpeg']:.2f}x", end="")
    print()
    print(f"{'peak RSS (median)':24}" + "".join(f"{rss[l]:>11.0f} MB" for l in labels), end="")
    if len(labels) == 2 and rss["ffmpeg"] > 0:
        print(f"   streamlet/ffmpeg = {rss['streamlet'] / rss['ffmpeg']:.2f}x", end="")
    print()
    psnr = {l: as_float(quality.get(f"psnr_{l}")) for l in labels}
    cells = "".join(f"{psnr[l]:>11.2f} dB" if psnr[l] is not None else f"{'n/a':>14}" for l in labels)
    print(f"{'top rendition PSNR':24}" + cells, end="")
    if len(labels) == 2 and None not in psnr.values():
        print(f"   streamlet - ffmpeg = {psnr['streamlet'] - psnr['ffmpeg']:+.2f} dB", end="")
    print()
    kbps = {l: quality.get(f"kbps_{l}", "n/a") for l in labels}
    print(f"{'top rendition bitrate':24}" + "".join(f"{kbps[l]:>9} kb/s" for l in labels))
    print("(PSNR is only comparable when the bitrates match; each row's raw runs are above.)")


def lengths(rows, meta):
    print("streamlet peak RSS by input length: " + ", ".join(f"{k} {v}" for k, v in meta))
    print(f"{'source':>10}{'wall':>10}{'peak RSS':>12}")
    for _, secs, wall, rss in rows:
        print(f"{secs + ' s':>10}{wall:>8.1f} s{rss / 1024:>9.0f} MB")
    if len(rows) >= 2 and rows[0][3] > 0:
        first, last = rows[0], rows[-1]
        print(f"RSS {last[1]} s / {first[1]} s = {last[3] / first[3]:.2f}x "
              f"(flat memory means close to 1.00x while the input is "
              f"{int(last[1]) / max(int(first[1]), 1):.0f}x longer)")


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("compare", "lengths"):
        sys.exit(__doc__)
    rows = load(sys.argv[2])
    meta, quality = split_meta(sys.argv[3:])
    if sys.argv[1] == "compare":
        compare(rows, meta, quality)
    else:
        lengths(rows, meta)


if __name__ == "__main__":
    main()
