#!/usr/bin/env python3
"""The RSMC JAX code's GMM40 under the two JAX versions its requirements have named, and the
exact-sample floor of the paper's Sinkhorn against its own ground-truth set.

`targets/gmm40.py` of `nolerk/gfn-smc-jax` draws its means as
`jax.random.uniform(PRNGKey(0), (40, d), minval=-1, maxval=1) * 40`, and the RSMC trainer its
ground truth as `target.sample(PRNGKey(0), (eval_samples,))` (2000 at the paper's setting,
distrax's `MixtureSameFamily`). Which numbers those are depends on the JAX version: before
0.5.0 JAX ran with `jax_threefry_partitionable = False`, from 0.5.0 on with `True`, and the two
split the threefry stream differently. The commit labelled "submitted version" (6b54686) pins
jax 0.4.28; its requirements name 0.6.2 from 413fcec on (this repository's `gmm40-jax` is the
0.6.2 set, `scripts/jax_targets_dump.py`).

For each version this script writes, into `--out`, the means (`means-VERSION-dDIM.csv`, d = 2
and 5) and the paper's ground truth (`gt-VERSION.csv`, 2-D; `gt-VERSION-d5.csv`, 5-D), and
prints the first means, how
crowded the 2-D layout is, and, with `--floor N`, the paper-convention Sinkhorn
(`amortise metric sinkhorn --convention paper`) of N exact sets of 2000 (drawn here with
`random.Random(1000 + s)`, s = 1..N: equal weights, unit variance) against that ground truth
and against one more exact set (`random.Random(0)`): mean ± std, median and range; with
`--reference FILE` also the 0.6.2 sets against FILE; with `--floor-5d N`, N 5-D exact sets
against the 5-D ground truth.

    python3 scripts/gmm40_jax_layouts.py --out DIR [--floor 40] [--reference gt0.csv] \
        [--amortise target/release/amortise]

Each version gets its own venv under `target/` with the pins below, from PyPI (0.6.2 shares
`jax_targets_dump.py`'s; jaxlib is the CPU build, where 6b54686 named the CUDA one: the
threefry bits are the same). The 0.6.2 means are checked against
`kernel/src/targets/paper_params.rs`. Only the standard library is needed to start.
"""
import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from pinned_venv import ensure_venv  # noqa: E402
from jax_targets_dump import PINS as PINS_062  # noqa: E402
from gmm40_sinkhorn_sensitivity import means_2d  # noqa: E402

VERSIONS = {
    "0.4.28": (
        os.path.join(ROOT, "target", "py-jax-0.4.28"),
        ["jax==0.4.28", "jaxlib==0.4.28", "numpy==1.26.4", "chex==0.1.86", "distrax==0.1.5",
         "tensorflow-probability==0.24.0", "ml-dtypes==0.4.0", "scipy==1.13.1"],
    ),
    "0.6.2": (os.path.join(ROOT, "target", "py-jax-0.6.2"), PINS_062),
}

INNER = r"""
import sys, jax, jax.numpy as jnp, numpy as np, distrax
version, out = sys.argv[1], sys.argv[2]
assert jax.__version__ == version, jax.__version__
for dim in (2, 5):
    mean = jax.random.uniform(shape=(40, dim), key=jax.random.PRNGKey(0), minval=-1.0, maxval=1.0) * 40
    np.savetxt(f"{out}/means-{version}-d{dim}.csv", np.asarray(mean), delimiter=",", fmt="%.9g")
    d = distrax.MixtureSameFamily(
        mixture_distribution=distrax.Categorical(logits=jnp.ones(40)),
        components_distribution=distrax.Independent(
            distrax.Normal(loc=mean, scale=jnp.ones((40, dim))), reinterpreted_batch_ndims=1))
    x = np.asarray(d.sample(seed=jax.random.PRNGKey(0), sample_shape=(2000,)))
    name = f"{out}/gt-{version}.csv" if dim == 2 else f"{out}/gt-{version}-d{dim}.csv"
    head = ",".join(f"x{i + 1}" for i in range(dim))
    np.savetxt(name, x, delimiter=",", header=head, comments="", fmt="%.9g")
print(jax.config.jax_threefry_partitionable)
"""


def read_means(path):
    with open(path, encoding="utf-8") as f:
        return [tuple(float(v) for v in line.split(",")) for line in f if line.strip()]


def draw(means, seed, path, n=2000):
    r = random.Random(seed)
    dim = len(means[0])
    with open(path, "w", encoding="utf-8") as f:
        f.write(",".join(f"x{i + 1}" for i in range(dim)) + "\n")
        for _ in range(n):
            m = means[r.randrange(len(means))]
            f.write(",".join(repr(m[i] + r.gauss(0, 1)) for i in range(dim)) + "\n")


def sinkhorn(exe, a, b):
    out = subprocess.run([exe, "metric", "sinkhorn", "--convention", "paper", "--a", a, "--b", b],
                         check=True, capture_output=True, text=True)
    return float(out.stdout.strip())


def summary(values):
    return (f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f} (median "
            f"{statistics.median(values):.2f}, {min(values):.2f}–{max(values):.2f})")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--floor", type=int, default=0)
    ap.add_argument("--amortise", default=os.path.join(ROOT, "target", "release", "amortise"))
    ap.add_argument("--floor-5d", type=int, default=0,
                    help="also score this many 5-D exact sets against each version's 5-D ground truth")
    ap.add_argument("--reference", help="with --floor: also score the 0.6.2 exact sets against "
                    "this 2-D CSV (e.g. `amortise sample-target --target gmm40-jax --dim 2 "
                    "--n 2000 --seed 0`, this repository's evaluation set)")
    args = ap.parse_args()
    if args.floor == 1 or args.floor_5d == 1:
        ap.error("--floor needs at least 2 sets (it reports a standard deviation), or 0")
    os.makedirs(args.out, exist_ok=True)
    rows = []
    for version, (venv, pins) in VERSIONS.items():
        py = ensure_venv(venv, pins)
        flag = subprocess.run([py, "-c", INNER, version, args.out], check=True,
                              capture_output=True, text=True).stdout.split()[-1]
        means = read_means(os.path.join(args.out, f"means-{version}-d2.csv"))
        if version == "0.6.2":
            ours = means_2d()
            if max(abs(a - b) for m, o in zip(means, ours) for a, b in zip(m, o)) > 1e-4:
                raise SystemExit("the 0.6.2 means differ from kernel/src/targets/paper_params.rs")
        pairs = sum(1 for i in range(40) for j in range(i + 1, 40) if math.dist(means[i], means[j]) < 8)
        row = {"jax": version, "partitionable": flag, "first 2-D means": means[:2],
               "pairs of means closer than 8": pairs}
        if args.floor:
            gt = os.path.join(args.out, f"gt-{version}.csv")
            other = os.path.join(args.out, f"exact0-{version}.csv")
            draw(means, 0, other)
            tmp = os.path.join(args.out, "exact.csv")
            vs_gt, vs_other = [], []
            for s in range(1, args.floor + 1):
                draw(means, 1000 + s, tmp)
                vs_gt.append(sinkhorn(args.amortise, tmp, gt))
                vs_other.append(sinkhorn(args.amortise, tmp, other))
            row["floor against the paper's ground truth"] = summary(vs_gt)
            row["floor against another exact set"] = summary(vs_other)
            if args.reference and version == "0.6.2":
                vs_ref = []
                for s in range(1, args.floor + 1):
                    draw(means, 1000 + s, tmp)
                    vs_ref.append(sinkhorn(args.amortise, tmp, args.reference))
                row[f"floor against {args.reference}"] = summary(vs_ref)
            os.remove(tmp)
        if args.floor_5d:
            means5 = read_means(os.path.join(args.out, f"means-{version}-d5.csv"))
            gt5 = os.path.join(args.out, f"gt-{version}-d5.csv")
            tmp = os.path.join(args.out, "exact.csv")
            vs5 = []
            for s in range(1, args.floor_5d + 1):
                draw(means5, 1000 + s, tmp)
                vs5.append(sinkhorn(args.amortise, tmp, gt5))
            row["5-D floor against the paper's 5-D ground truth"] = summary(vs5)
            os.remove(tmp)
        rows.append(row)
        print(json.dumps(row, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
