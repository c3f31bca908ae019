"""A run's paper-convention Sinkhorn at every committed snapshot, averaged over fresh draws.

    python3 scripts/snapshot_sinkhorn_curve.py results/paper/gmm40-jax-2-rsmc-s0 \
        --reference data/gmm40-jax-paper-gt-d2.csv [--draws 10] [--amortise target/release/amortise]

A run in pieces commits its resume snapshot (`snapshot.gz`) at the end of every piece. For
each commit in `git log` that changed it, this takes the snapshot out of git, draws
`--draws` sets of 2000 samples from it (`amortise sample --seed 0 … draws−1`) and scores each
against `--reference` (`amortise metric sinkhorn --convention paper`), then prints one row per
distinct iteration (`iterations_completed` of the same commit's `summary.json`): the mean,
std (sample std) and range of the draws. One evaluation of a run is a single draw; the mean
of ten separates the model's own distance from the draw-to-draw noise (an exact sampler's
single draws against the seeds' GMM40-2d set scatter by 2.94, docs/results.md).
Standard library only.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile


def git(*args):
    return subprocess.run(["git", *args], check=True, capture_output=True).stdout


def score(amortise, snapshot, reference, seed, tmp):
    out = os.path.join(tmp, "m.csv")
    subprocess.run(
        [amortise, "sample", "--checkpoint", snapshot, "--n", "2000", "--seed", str(seed), "--out", out],
        check=True, capture_output=True,
    )
    res = subprocess.run(
        [amortise, "metric", "sinkhorn", "--convention", "paper", "--a", out, "--b", reference],
        check=True, capture_output=True, text=True,
    )
    return float(res.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", help="a run folder under git, e.g. results/paper/gmm40-jax-2-rsmc-s0")
    ap.add_argument("--reference", required=True, help="CSV of the reference samples")
    ap.add_argument("--draws", type=int, default=10)
    ap.add_argument("--amortise", default="target/release/amortise")
    a = ap.parse_args()
    if a.draws < 2:
        sys.exit("--draws must be at least 2")
    if not os.path.exists(a.amortise):
        sys.exit(f"--amortise: {a.amortise} does not exist (cargo build --release)")
    run = a.run.rstrip("/")
    commits = git("log", "--format=%h", "--", f"{run}/snapshot.gz").decode().split()
    if not commits:
        sys.exit(f"{run}/snapshot.gz has no commits")
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for c in commits:
            try:
                summary = json.loads(git("show", f"{c}:{run}/summary.json"))
            except subprocess.CalledProcessError:
                continue
            it = summary.get("iterations_completed")
            if it is None or it in rows:
                continue
            snap = os.path.join(tmp, "snapshot.gz")
            with open(snap, "wb") as f:
                f.write(git("show", f"{c}:{run}/snapshot.gz"))
            v = [score(a.amortise, snap, a.reference, s, tmp) for s in range(a.draws)]
            rows[it] = (c, v)
            print(f"# {it} ({c}) done", file=sys.stderr, flush=True)
    print(f"| iteration | commit | {a.draws} draws: mean ± std | min–max |")
    print("|---|---|---|---|")
    for it in sorted(rows):
        c, v = rows[it]
        print(f"| {it} | {c} | {statistics.mean(v):.2f} ± {statistics.stdev(v):.2f} | "
              f"{min(v):.2f}–{max(v):.2f} |")


if __name__ == "__main__":
    main()
