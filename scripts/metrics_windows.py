#!/usr/bin/env python3
"""A run's evaluations averaged over windows of iterations, to see a trend through the noise.

Reads `DIR/metrics.jsonl` and keeps the lines that carry `elbo` as a number at an iteration
that is a multiple of `--every` (200 at `--preset paper`): the periodic evaluations, chosen as
`summary.json`'s `last5` chooses them. A stop's off-schedule line and progress lines are left out, as `summary.json`'s
`last5` leaves them out (a run whose last iteration is not a multiple of `--every` has its
final evaluation left out too). It groups
them into windows of `--window` iterations (iterations 1–W, W+1–2W, …) and prints, per
window and key, the number of evaluations, their mean ± (sample) std and their range.
With `--rolling N` it prints instead, at every evaluation from the N-th on, the mean of the
last N (N = 5: from the fifth evaluation on, the `last5` that `summary.json` would have had
if the run had stopped there; a key missing from one of them has no mean, "–").

A run resumed with another `--eval-reference` has lines against two ground-truth sets (a
line against the seeds' set says `"eval_reference": "paper"`; a line without the key is
against the exact set). Windows and rolling means never mix them: `--reference exact|paper`
keeps one set's lines, by default the set of the run's last evaluation (the one
`summary.json`'s `last5` reads), and a note on stderr counts the lines left out.
Standard library only.

    python3 scripts/metrics_windows.py results/paper/gmm40-jax-2-rsmc-s0 \
        --keys sinkhorn_paper,eubo --window 2000
    python3 scripts/metrics_windows.py results/paper/gmm40-jax-2-rsmc-s0 --rolling 5
"""

import argparse
import json
import os
import statistics
import sys


SELECT = "elbo"


def evaluations(path, every):
    """The on-schedule lines of `path` that carry `SELECT` as a number; a line that is
    not a JSON object is an error naming its number."""
    out = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                v = json.loads(line)
            except json.JSONDecodeError as e:
                raise SystemExit(f"{path}:{n}: not JSON ({e})")
            if not isinstance(v, dict):
                raise SystemExit(f"{path}:{n}: not a JSON object")
            it = v.get("iteration")
            on_schedule = isinstance(it, int) and it % every == 0
            if on_schedule and isinstance(v.get(SELECT), (int, float)):
                out.append(v)
    return out


def reference(v):
    """The ground-truth set a line was evaluated against."""
    return v.get("eval_reference", "exact")


def keep_reference(evals, chosen, path):
    """The lines of `evals` against `chosen` (default: the last line's set); a note on
    stderr when lines against another set are left out."""
    chosen = chosen or reference(evals[-1])
    kept = [v for v in evals if reference(v) == chosen]
    left = len(evals) - len(kept)
    if left:
        print(f"note: {path}: {left} evaluations against another set than {chosen!r} "
              "left out (--reference chooses)", file=sys.stderr)
    return kept, chosen


def windows(evals, window):
    """`evals` grouped by window: [(first iteration, last iteration, lines)]."""
    groups = {}
    for v in evals:
        groups.setdefault((v["iteration"] - 1) // window, []).append(v)
    return [(k * window + 1, (k + 1) * window, g) for k, g in sorted(groups.items())]


def rolling(evals, keys, n):
    """Prints at every evaluation from the `n`-th on the mean of each key over the last `n`."""
    print("| iteration | " + " | ".join(f"{k}: mean of the last {n}" for k in keys) + " |")
    print("|---|" + "---|" * len(keys))
    for i in range(n - 1, len(evals)):
        last = evals[i - n + 1 : i + 1]
        cells = []
        for k in keys:
            x = [v[k] for v in last if isinstance(v.get(k), (int, float))]
            cells.append(f"{statistics.mean(x):.3f}" if len(x) == n else "–")
        print(f"| {evals[i]['iteration']} | " + " | ".join(cells) + " |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir", help="a run folder with metrics.jsonl")
    ap.add_argument("--keys", default="sinkhorn_paper,eubo", help="comma-separated metrics")
    ap.add_argument("--window", type=int, help="iterations per window (default 2000)")
    ap.add_argument("--every", type=int, default=200, help="the evaluation cadence")
    ap.add_argument("--rolling", type=int, help="print rolling means of this many evaluations")
    ap.add_argument("--reference", choices=["exact", "paper"],
                    help="the ground-truth set whose evaluations to keep (default: the last one's)")
    a = ap.parse_args()
    if a.window is not None and a.rolling is not None:
        ap.error("--window and --rolling are two different tables: give one")
    window = 2000 if a.window is None else a.window
    if window < 1 or a.every < 1 or (a.rolling is not None and a.rolling < 1):
        ap.error("--window, --every and --rolling must be at least 1")
    keys = [k for k in a.keys.split(",") if k]
    if not keys:
        ap.error("--keys names no metric")
    path = os.path.join(a.dir, "metrics.jsonl")
    if not os.path.exists(path):
        ap.error(f"no metrics.jsonl in {a.dir}")
    evals = evaluations(path, a.every)
    if not evals:
        ap.error(f"no line of {path} carries {SELECT} at a multiple of --every {a.every}")
    evals, chosen = keep_reference(evals, a.reference, path)
    if not evals:
        ap.error(f"no evaluation of {path} is against the {chosen!r} set")
    if a.rolling is not None:
        if len(evals) < a.rolling:
            ap.error(f"{path} has {len(evals)} evaluations, fewer than --rolling {a.rolling}")
        rolling(evals, keys, a.rolling)
        return
    heads = " | ".join(f"{k}: mean ± std (min–max)" for k in keys)
    print(f"| iterations | evaluations | {heads} |")
    print("|---|---|" + "---|" * len(keys))
    for lo, hi, g in windows(evals, window):
        cells = []
        for k in keys:
            x = [v[k] for v in g if isinstance(v.get(k), (int, float))]
            if x:
                sd = statistics.stdev(x) if len(x) > 1 else 0.0
                cells.append(f"{statistics.mean(x):.2f} ± {sd:.2f} ({min(x):.2f}–{max(x):.2f})")
            else:
                cells.append("–")
        print(f"| {lo}–{hi} | {len(g)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
