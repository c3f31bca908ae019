#!/usr/bin/env python3
"""Mode coverage of GMM40-2d samples, as in the defaults table of docs/playground.md.

usage: python3 scripts/playground_coverage.py DIR/samples.csv [...]

Prints, per file: how many of the 40 mode centres (gmm40_means.csv, the means embedded in
the kernel; results/playground/gmm40_means.csv) have at least one sample within 2 (two standard deviations of a mode), and the
fraction of samples within 2 of some centre (0.865 for exact samples: P(chi2_2 <= 4)).
"""
import csv
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def rows(path):
    with open(path) as f:
        for r in csv.reader(f):
            try:
                yield float(r[0]), float(r[1])
            except (ValueError, IndexError):
                continue  # header


means = list(rows(os.path.join(HERE, "..", "results", "playground", "gmm40_means.csv")))
for path in sys.argv[1:]:
    pts = list(rows(path))
    near = lambda p, m: (p[0] - m[0]) ** 2 + (p[1] - m[1]) ** 2 <= 4.0
    hit = sum(1 for m in means if any(near(p, m) for p in pts))
    frac = sum(1 for p in pts if any(near(p, m) for m in means)) / max(len(pts), 1)
    print(f"{path}: {len(pts)} samples, modes {hit}/{len(means)}, near a mode {frac:.3f}")
