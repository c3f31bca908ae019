#!/usr/bin/env python3
"""Writes tests/fixtures/ott_sinkhorn.json: point sets and ott-jax's Sinkhorn divergences.

The Reinforced SMC tables report ott-jax 0.4.6's `sinkhorn_divergence(PointCloud, x, y)` with
no epsilon (relative epsilon = 0.05 x mean cost, ott's Sinkhorn defaults). amortise's
`SinkhornConvention::Paper` (kernel/src/metrics/sinkhorn/paper.rs) reimplements it;
tests/ott_sinkhorn.rs checks it against the values this script records, in ott's default
float32 (what the paper's code ran) and with jax x64 enabled (the same algorithm in float64).

    python3 scripts/ott_sinkhorn_fixture.py            # writes tests/fixtures/ott_sinkhorn.json
    python3 scripts/ott_sinkhorn_fixture.py --venv DIR --out PATH
    python3 scripts/ott_sinkhorn_fixture.py --compare A.csv B.csv

`--compare` reads two sample files (as `amortise sample-target` writes them: a header, then
one point per line) and prints ott's value for them, in float32 as the paper's code ran it,
and, for equal sizes, the exact W2^2 (an optimal assignment by scipy's
linear_sum_assignment), to set beside `amortise metric sinkhorn --convention paper|converged`.

The first run creates a virtual environment (default ~/.cache/amortise/ott-jax-0.4.6, or
--venv) with the pinned versions below, from PyPI, then re-runs itself inside it. Only the
standard library is needed to start. The point sets come from numpy's legacy RandomState
(a stable stream), rounded to a few decimals so that Python and Rust read the same float32s.
"""
import argparse
import json
import os
import subprocess
import sys

from pinned_venv import ensure_venv  # noqa: E402 (scripts/, next to this file)

PINS = ["ott-jax==0.4.6", "jax[cpu]==0.4.35", "jaxlib==0.4.35", "numpy==2.4.6", "scipy==1.17.1"]
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_OUT = os.path.join(ROOT, "tests", "fixtures", "ott_sinkhorn.json")
DEFAULT_VENV = os.path.join(os.path.expanduser("~"), ".cache", "amortise", "ott-jax-0.4.6")


def cases():
    """(name, dim, decimals, x, y) for every fixture case, as float64 arrays of rounded values."""
    import numpy as np

    rs = np.random.RandomState(20250101)
    # a literal case small enough to copy into the kernel's unit tests (tests_paper.rs)
    out = [("tiny_2d", 2, 1,
            np.array([[0.0, 0.0], [1.0, 0.5], [2.0, -1.0], [-1.5, 0.5], [0.5, 2.0]]),
            np.array([[0.5, 0.0], [3.0, 1.0], [-1.0, -1.0], [1.0, 1.5]]))]

    def gmm(means, n, comps=None):
        k = rs.randint(0, len(means) if comps is None else comps, size=n)
        return means[k] + rs.randn(n, means.shape[1])

    means2 = rs.uniform(-40.0, 40.0, size=(40, 2))  # GMM40-2d-like: 40 unit-variance modes
    out.append(("gmm40_2d_exact_vs_exact", 2, 3, gmm(means2, 200), gmm(means2, 200)))
    out.append(("gmm40_2d_exact_vs_10_modes", 2, 3, gmm(means2, 250), gmm(means2, 150, comps=10)))
    x = rs.randn(150, 2)
    out.append(("near_identical_2d", 2, 4, x, x + 0.05 * rs.randn(150, 2)))
    out.append(("sizes_50_vs_300_2d", 2, 4, rs.uniform(-2.0, 2.0, size=(50, 2)),
                0.7 * rs.randn(300, 2) + np.array([0.5, -0.3])))
    out.append(("gaussians_5d", 5, 4, rs.randn(120, 5), 1.5 * rs.randn(100, 5) + 0.5))
    means10 = rs.uniform(-10.0, 10.0, size=(8, 10))
    out.append(("gmm8_10d", 10, 3, gmm(means10, 80), gmm(means10, 60, comps=5)))
    return [(name, d, dec, np.round(a, dec), np.round(b, dec)) for name, d, dec, a, b in out]


# Non-default Sinkhorn settings, recorded for one case: a threshold never met and a cap that
# is not a multiple of inner_iterations (ott runs whole blocks of 10, so 30 iterations).
CAPPED = {"threshold": 1e-9, "max_iterations": 25}
CAPPED_CASE = "gaussians_5d"


def ott_values(x, y, dtype, sinkhorn_kwargs=None):
    """What ott computes for sinkhorn_divergence(PointCloud, x, y) (the seeds' call, minus the
    unused epsilon), plus each term's reg_ot_cost recomputed from its potentials."""
    import jax.numpy as jnp
    from ott.geometry import pointcloud
    from ott.problems.linear import linear_problem
    from ott.solvers.linear import sinkhorn
    from ott.tools import sinkhorn_divergence as sd

    x = jnp.asarray(x, dtype=dtype)
    y = jnp.asarray(y, dtype=dtype)
    out = sd.sinkhorn_divergence(pointcloud.PointCloud, x, y,
                                 sinkhorn_kwargs=sinkhorn_kwargs or {})
    terms = []
    for (f, g), geom, (a, b) in zip(out.potentials, out.geoms,
                                    [(out.a, out.b), (out.a, out.a), (out.b, out.b)]):
        prob = linear_problem.LinearProblem(geom, a=a, b=b)
        terms.append(float(sinkhorn.compute_kl_reg_cost(f, g, prob, lse_mode=True)))
    return {
        "divergence": float(out.divergence),
        "epsilon": float(out.geoms[0].epsilon),
        "reg_ot_cost": terms,
        "n_iters": [int(n) for n in out.n_iters],
        "converged": [bool(c) for c in out.converged],
    }


def inside(out_path):
    import jax
    import numpy as np
    import ott

    rows = []
    all_cases = cases()
    for name, d, dec, x, y in all_cases:
        # the float32 values both sides read: the rounded decimals, cast once
        x32, y32 = x.astype(np.float32), y.astype(np.float32)
        rows.append({"name": name, "dim": d, "x": x, "y": y, "x32": x32, "y32": y32,
                     "float32": ott_values(x32, y32, np.float32)})
    jax.config.update("jax_enable_x64", True)
    for r in rows:
        x64, y64 = r["x32"].astype(np.float64), r["y32"].astype(np.float64)
        r["float64"] = ott_values(x64, y64, np.float64)
        if r["name"] == CAPPED_CASE:
            r["capped"] = dict(CAPPED, float64=ott_values(x64, y64, np.float64, CAPPED))
    doc = {
        "about": "ott-jax sinkhorn_divergence(PointCloud, x, y), no epsilon, default Sinkhorn; "
                 "written by scripts/ott_sinkhorn_fixture.py, read by tests/ott_sinkhorn.rs",
        "versions": {"ott-jax": ott.__version__, "jax": jax.__version__, "numpy": np.__version__},
        "cases": [],
    }
    for (name, d, dec, x, y), r in zip(all_cases, rows):
        doc["cases"].append({
            "name": name, "dim": d, "n": len(x), "m": len(y),
            "float32": r["float32"], "float64": r["float64"],
            **({"capped": r["capped"]} if "capped" in r else {}),
            # rounded decimals: Rust parses them and casts to f32, as numpy did above
            "x": [round(float(v), dec) for v in x.ravel()],
            "y": [round(float(v), dec) for v in y.ravel()],
        })
    text = json.dumps(doc, separators=(",", ":"))
    # one case per line keeps diffs readable
    text = text.replace(',{"name"', ',\n{"name"')
    with open(out_path, "w") as f:
        f.write(text + "\n")
    for c in doc["cases"]:
        print(f'{c["name"]:28s} n={c["n"]:3d} m={c["m"]:3d} d={c["dim"]:2d}  '
              f'f32 {c["float32"]["divergence"]:.6g}  f64 {c["float64"]["divergence"]:.6g}  '
              f'eps {c["float64"]["epsilon"]:.4g}  iters {c["float64"]["n_iters"]}')
    print(f"wrote {out_path} ({os.path.getsize(out_path)} bytes)")


def read_csv(path):
    """Points of a sample file (header skipped), as float32 like `amortise` reads them."""
    import numpy as np

    rows = []
    with open(path) as f:
        for line in f:
            try:
                rows.append([float(v) for v in line.split(",")])
            except ValueError:
                continue  # header
    return np.asarray(rows, dtype=np.float32)


def compare(a_path, b_path):
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    x, y = read_csv(a_path), read_csv(b_path)
    v = ott_values(x, y, np.float32)
    print(f"ott-jax float32: divergence {v['divergence']:.6f}  epsilon {v['epsilon']:.6f}  "
          f"iterations {v['n_iters']}  converged {v['converged']}")
    if len(x) == len(y):
        xd, yd = x.astype(np.float64), y.astype(np.float64)
        cost = ((xd[:, None, :] - yd[None, :, :]) ** 2).sum(-1)
        rows, cols = linear_sum_assignment(cost)
        print(f"exact W2^2: {cost[rows, cols].mean():.6f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--venv", default=DEFAULT_VENV, help="virtual environment to create/use")
    ap.add_argument("--out", default=DEFAULT_OUT, help="fixture to write")
    ap.add_argument("--compare", nargs=2, metavar=("A.csv", "B.csv"),
                    help="print ott's value (and the exact W2^2) for two sample files")
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.inside:
        if a.compare:
            compare(*a.compare)
        else:
            inside(a.out)
        return
    py = ensure_venv(a.venv, PINS)
    extra = ["--compare", *map(os.path.abspath, a.compare)] if a.compare else []
    subprocess.run([py, os.path.abspath(__file__), "--inside", "--out", a.out, *extra],
                   check=True)


if __name__ == "__main__":
    main()
