#!/usr/bin/env python3
"""Which GMM40-2d modes a sample set over- or under-fills, and whether two sets agree on it.

Assigns every row of each CSV (two columns, a header line) to its nearest mean of the RSMC
JAX code's GMM40-2d (the means of `kernel/src/targets/paper_params.rs`, read as
`gmm40_sinkhorn_sensitivity.py` reads them; equal weights) and prints, per file, the χ² of the
counts against equal weights (39 dof), the RMS of the relative deviations
(count / expected − 1), and the correlation of those deviations with the mode's distance
from the origin and with how crowded its neighbourhood is (the number of other means within
`--radius`). For every pair of files it prints the correlation of their per-mode deviations:
two runs whose errors are the same modes' (a bias of the method) correlate strongly, two
runs with independent errors (training noise) near 0, as two exact sets do. With `--table`
it also prints every mode's count per file. Standard library only.

    python3 scripts/gmm40_mode_weights.py m0.csv m1.csv g.csv [--radius 8] [--table]
"""

import argparse
import math
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gmm40_sinkhorn_sensitivity import means_2d  # noqa: E402


def counts(path, means):
    c = [0] * len(means)
    with open(path, encoding="utf-8") as f:
        next(f)
        for line in f:
            x, y = (float(v) for v in line.split(",")[:2])
            k = min(range(len(means)), key=lambda j: (x - means[j][0]) ** 2 + (y - means[j][1]) ** 2)
            c[k] += 1
    return c


def corr(a, b):
    ma, mb = statistics.fmean(a), statistics.fmean(b)
    sab = sum((x - ma) * (y - mb) for x, y in zip(a, b))
    saa = sum((x - ma) ** 2 for x in a)
    sbb = sum((y - mb) ** 2 for y in b)
    return sab / math.sqrt(saa * sbb)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("csv", nargs="+")
    ap.add_argument("--radius", type=float, default=8.0)
    ap.add_argument("--table", action="store_true")
    args = ap.parse_args()
    means = means_2d()
    radius = [math.hypot(*m) for m in means]
    crowd = [
        sum(1 for o in means if o is not m and math.dist(m, o) < args.radius) for m in means
    ]
    devs, all_counts = {}, {}
    print("| file | n | χ² (39 dof) | RMS deviation | corr. with distance from 0 | corr. with crowding |")
    print("|---|---|---|---|---|---|")
    for path in args.csv:
        c = counts(path, means)
        n = sum(c)
        e = n / len(means)
        d = [x / e - 1.0 for x in c]
        chi2 = sum((x - e) ** 2 / e for x in c)
        rms = math.sqrt(statistics.fmean(v * v for v in d))
        devs[path], all_counts[path] = d, c
        print(f"| {path} | {n} | {chi2:.1f} | {rms:.3f} | {corr(d, radius):+.2f} | {corr(d, crowd):+.2f} |")
    names = list(devs)
    if len(names) > 1:
        print()
        print("| pair | correlation of per-mode deviations |")
        print("|---|---|")
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                print(f"| {a} · {b} | {corr(devs[a], devs[b]):+.2f} |")
    if args.table:
        print()
        print("| mode | mean | distance from 0 | neighbours | " + " | ".join(names) + " |")
        print("|---" * (4 + len(names)) + "|")
        for k, m in enumerate(means):
            row = " | ".join(str(all_counts[p][k]) for p in names)
            print(f"| {k} | ({m[0]:.2f}, {m[1]:.2f}) | {radius[k]:.1f} | {crowd[k]} | {row} |")


if __name__ == "__main__":
    main()
