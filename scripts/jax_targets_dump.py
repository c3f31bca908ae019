#!/usr/bin/env python3
"""Writes the RSMC JAX code's GMM40 means and MoS locations as Rust tables, and a fixture.

The Reinforced SMC paper's tables were made with `nolerk/gfn-smc-jax`, whose targets draw their
parameters from `jax.random.PRNGKey(0)`:

- GMM40 (`targets/gmm40.py`, configs `gaussian_mixture40{,_5d,_50d}.yaml`): 40 equal-weight
  components, means `jax.random.uniform(key, (40, d), minval=-1.0, maxval=1.0) * 40`, unit
  scale, for d = 2, 5 and 50;
- the mixture of Student-t (`targets/student_t_mixture.py`, `student_t_mixture_50d.yaml`): 10
  equal-weight components (logits `ones(10) / 10`), locations
  `jax.random.uniform(key, minval=-10, maxval=10, shape=(10, 50))`, every coordinate an
  independent Student-t with df 2 and scale 1 (numpyro's `StudentT` under `Independent`).

This script makes those draws the same way (same key, one call per target, same shape, float32,
jax 0.6.2 as the seeds' requirements name it from commit 413fcec on; the "submitted version",
6b54686, pins jax 0.4.28, which splits the threefry stream differently and draws other
parameters from the same key: `scripts/gmm40_jax_layouts.py` writes both GMM40 sets) and writes

- `kernel/src/targets/paper_params.rs`: the tables (float32 values written as the shortest
  decimals that round-trip, so Rust reads back the same bits);
- `tests/fixtures/jax_targets.json`: points and the log densities the JAX code itself computes
  there (distrax's `MixtureSameFamily` for GMM40, numpyro's for MoS, and the ManyWell-64
  energy of `targets/many_well.py`), in float32 as the paper ran it and with jax x64 enabled
  (the same distributions in float64, the parameters being the float32 draws), plus the float64
  gradients (`jax.grad`). `tests/jax_targets.rs` checks the kernel's targets against it.

It also prints how the JAX 2-D means compare with `Gmm40::MEANS_2D` (the PyTorch port's set).

    python3 scripts/jax_targets_dump.py            # writes both files
    python3 scripts/jax_targets_dump.py --check    # fails unless both match a fresh run
    python3 scripts/jax_targets_dump.py --venv DIR

The first run creates a virtual environment (default target/py-jax-0.6.2, or --venv) with the
pinned versions below, from PyPI, then re-runs itself inside it. Only the standard library is
needed to start.
"""
import argparse
import json
import os
import re
import subprocess
import sys

from pinned_venv import ensure_venv  # noqa: E402 (scripts/, next to this file)

PINS = [
    "jax==0.6.2", "jaxlib==0.6.2", "distrax==0.1.5", "tensorflow-probability==0.24.0",
    "numpyro==0.14.0", "chex==0.1.90", "numpy==2.4.6", "scipy==1.17.1",
]
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TABLES = os.path.join(ROOT, "kernel", "src", "targets", "paper_params.rs")
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "jax_targets.json")
GMM40_RS = os.path.join(ROOT, "kernel", "src", "targets", "gmm40.rs")
DEFAULT_VENV = os.path.join(ROOT, "target", "py-jax-0.6.2")
GMM40_DIMS = (2, 5, 50)
MOS_COMPONENTS, MOS_DIM = 10, 50
MANYWELL_DIM = 64


def f32_text(v):
    """The shortest decimal that reads back as the float32 `v` (always with a '.')."""
    import numpy as np

    return np.format_float_positional(np.float32(v), unique=True, trim="0")


def g10(v):
    """A float64 to 10 significant digits (far below float32's resolution)."""
    return f"{float(v):.10g}"


class Raw(str):
    """A number already written as JSON text."""


def dump(v):
    """Compact JSON with `Raw` numbers written as given, one target per line."""
    if isinstance(v, Raw):
        return str(v)
    if isinstance(v, dict):
        sep = ",\n" if "targets" in v else ","
        return "{" + sep.join(json.dumps(k) + ":" + dump(x) for k, x in v.items()) + "}"
    if isinstance(v, list):
        sep = ",\n" if v and isinstance(v[0], dict) else ","
        return "[" + sep.join(dump(x) for x in v) + "]"
    return json.dumps(v)


def gmm40_means(dim):
    """`targets/gmm40.py`: `uniform(shape=(40, dim), key=PRNGKey(seed=0), -1, 1) * loc_scaling`."""
    import jax

    key = jax.random.PRNGKey(0)
    loc_scaling = 40  # `loc_scaling: 40` in the yaml configs (an int)
    return jax.random.uniform(shape=(40, dim), key=key, minval=-1.0, maxval=1.0) * loc_scaling


def mos_locs():
    """`targets/student_t_mixture.py`: `uniform(PRNGKey(0), minval=-10, maxval=10, (10, 50))`."""
    import jax

    seed = jax.random.PRNGKey(0)
    return jax.random.uniform(seed, minval=-10, maxval=10, shape=(MOS_COMPONENTS, MOS_DIM))


def gmm40_log_prob(means):
    """The seeds' GMM40 density (distrax), for means of either float width."""
    import distrax
    import jax.numpy as jnp

    n, _ = means.shape
    comps = distrax.Independent(
        distrax.Normal(loc=means, scale=jnp.ones_like(means) * 1.0), reinterpreted_batch_ndims=1)
    mix = distrax.MixtureSameFamily(
        mixture_distribution=distrax.Categorical(logits=jnp.ones(n, dtype=means.dtype)),
        components_distribution=comps)
    return mix.log_prob


def mos_log_prob(locs):
    """The seeds' MoS density (numpyro), for locations of either float width."""
    import jax.numpy as jnp
    import numpyro.distributions as dist

    k, _ = locs.shape
    comps = dist.Independent(
        dist.StudentT(df=jnp.ones_like(locs) * 2, loc=locs, scale=jnp.ones_like(locs)), 1)
    mix = dist.MixtureSameFamily(
        dist.Categorical(logits=jnp.ones(k, dtype=locs.dtype) / k), comps)
    return mix.log_prob


def manywell_log_prob(x):
    """`targets/many_well.py` (a = -0.5, b = -6, c = 1): minus the sum over consecutive pairs
    (d, v) of the energy a d + b d^2 + c d^4 + v^2 / 2 (unnormalised)."""
    import jax.numpy as jnp

    pairs = x.reshape((-1, 2))
    d, v = pairs[:, 0], pairs[:, 1]
    return -jnp.sum(-0.5 * d - 6.0 * d**2 + 1.0 * d**4 + 0.5 * v**2)


def points(rs, centres, n_near, n_between, n_box, half, noise):
    """Evaluation points (float32): near random centres, between two, uniform in a box, 0."""
    import numpy as np

    k, d = centres.shape
    out = []
    for _ in range(n_near):
        out.append(centres[rs.randint(k)] + noise * rs.randn(d))
    for _ in range(n_between):
        a, b = rs.choice(k, 2, replace=False)
        out.append(0.5 * (centres[a] + centres[b]) + rs.randn(d))
    for _ in range(n_box):
        out.append(rs.uniform(-half, half, size=d))
    out.append(np.zeros(d))
    return np.array(out, dtype=np.float32)


def evaluate(make_lp, params32, xs):
    """float32 log densities, then float64 log densities and gradients (x64 enabled)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    jax.config.update("jax_enable_x64", False)
    lp = make_lp(jnp.asarray(params32)) if params32 is not None else make_lp
    lp32 = np.asarray(jax.vmap(lp)(jnp.asarray(xs, dtype=jnp.float32)))
    assert lp32.dtype == np.float32
    jax.config.update("jax_enable_x64", True)
    p64 = None if params32 is None else jnp.asarray(np.asarray(params32, dtype=np.float64))
    lp = make_lp(p64) if params32 is not None else make_lp
    x64 = jnp.asarray(np.asarray(xs, dtype=np.float64))
    lp64 = np.asarray(jax.vmap(lp)(x64))
    g64 = np.asarray(jax.vmap(jax.grad(lp))(x64))
    assert lp64.dtype == np.float64 and g64.dtype == np.float64
    jax.config.update("jax_enable_x64", False)
    return lp32, lp64, g64


def rust_table(name, doc, rows):
    """`pub(crate) static NAME: [[f32; d]; k]`, ten values per line."""
    k, d = rows.shape
    out = [f"/// {line}".rstrip() for line in doc.split("\n")]
    out.append(f"pub(crate) static {name}: [[f32; {d}]; {k}] = [")
    for r in rows:
        vals = [f32_text(v) for v in r]
        if d <= 10:
            out.append("    [" + ", ".join(vals) + "],")
        else:
            out.append("    [")
            for i in range(0, d, 10):
                out.append("        " + ", ".join(vals[i:i + 10]) + ",")
            out.append("    ],")
    out.append("];")
    return "\n".join(out)


def pytorch_means_2d():
    """`Gmm40::MEANS_2D` as written in gmm40.rs."""
    import numpy as np

    text = open(GMM40_RS).read()
    body = text.split("const MEANS_2D: [[f32; 2]; N_COMPONENTS] = [", 1)[1].split("];", 1)[0]
    pairs = re.findall(r"\[\s*(-?[0-9.]+),\s*(-?[0-9.]+)\s*\]", body)
    return np.array([[float(a), float(b)] for a, b in pairs], dtype=np.float32)


def inside():
    import jax
    import numpy as np

    assert jax.__version__ == "0.6.2", jax.__version__
    jax.config.update("jax_enable_x64", False)
    partitionable = bool(jax.config.jax_threefry_partitionable)
    means = {d: np.asarray(gmm40_means(d)) for d in GMM40_DIMS}
    locs = np.asarray(mos_locs())
    for m in [*means.values(), locs]:
        assert m.dtype == np.float32

    header = (
        "//! The parameters of the RSMC JAX code's targets (`nolerk/gfn-smc-jax`), drawn as it\n"
        "//! draws them from `jax.random.PRNGKey(0)`: GMM40's means (`targets/gmm40.py`) for\n"
        "//! d = 2, 5, 50 and the mixture of Student-t's locations\n"
        "//! (`targets/student_t_mixture.py`) for d = 50.\n"
        "//!\n"
        "//! GENERATED by `python3 scripts/jax_targets_dump.py` (jax 0.6.2, jaxlib 0.6.2,\n"
        f"//! `jax_threefry_partitionable = {str(partitionable).lower()}`, float32); do not edit\n"
        "//! by hand. Each value is the shortest decimal that reads back as the same `f32`."
    )
    tables = [header]
    for d in GMM40_DIMS:
        tables.append(rust_table(
            f"GMM40_{d}D",
            f"GMM40 means, d = {d}: `uniform(PRNGKey(0), (40, {d}), -1, 1) * 40`.",
            means[d]))
    tables.append(rust_table(
        "MOS_50D",
        "Mixture-of-Student-t locations, d = 50: `uniform(PRNGKey(0), (10, 50), -10, 10)`.",
        locs))
    rust = "\n\n".join(tables) + "\n"

    rs = np.random.RandomState(20251203)
    cases = []
    for d in GMM40_DIMS:
        n = (12, 8, 11) if d < 50 else (10, 6, 7)
        xs = points(rs, means[d], *n, half=50.0, noise=0.8)
        cases.append((f"gmm40-jax", d, gmm40_log_prob, means[d], xs))
    xs = points(rs, locs, 10, 6, 7, half=15.0, noise=1.0)
    cases.append(("mos", MOS_DIM, mos_log_prob, locs, xs))
    wells = np.array([[-1.7, 1.7][i % 2] for i in range(MANYWELL_DIM)])  # mode signs vary below
    mw = np.stack([wells * np.where(rs.rand(MANYWELL_DIM) < 0.5, 1, -1) for _ in range(8)])
    mw[:, 1::2] = 0.0
    xs = points(rs, mw, 12, 4, 7, half=2.5, noise=0.4)
    cases.append(("manywell", MANYWELL_DIM, None, None, xs))

    targets = []
    for name, d, make_lp, params, xs in cases:
        lp = manywell_log_prob if make_lp is None else make_lp
        lp32, lp64, g64 = evaluate(lp, None if make_lp is None else params, xs)
        targets.append({
            "name": name,
            "dim": d,
            "points": [[Raw(f32_text(v)) for v in x] for x in xs],
            "log_prob_f32": [Raw(f32_text(v)) for v in lp32],
            "log_prob_f64": [Raw(g10(v)) for v in lp64],
            "grad_f64": [[Raw(g10(v)) for v in g] for g in g64],
        })
    fixture = {
        "generator": "scripts/jax_targets_dump.py",
        "pins": PINS,
        "jax_threefry_partitionable": partitionable,
        "targets": targets,
    }
    fixture_text = dump(fixture) + "\n"

    torch2 = pytorch_means_2d()
    jax2 = means[2]
    same = sum(any(np.array_equal(m, t) for t in torch2) for m in jax2)
    nearest = max(float(np.min(np.linalg.norm(torch2 - m, axis=1))) for m in jax2)
    print(f"JAX 2-d means vs Gmm40::MEANS_2D (PyTorch): {same} of 40 JAX means appear in the "
          f"PyTorch set; farthest JAX mean from its nearest PyTorch mean: {nearest:.3f}; "
          f"first JAX mean {jax2[0].tolist()} vs PyTorch {torch2[0].tolist()}")
    return rust, fixture_text


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--venv", default=DEFAULT_VENV, help="virtual environment to create/use")
    ap.add_argument("--check", action="store_true",
                    help="compare with the committed files instead of writing them")
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if not a.inside:
        py = ensure_venv(a.venv, PINS)
        extra = ["--check"] if a.check else []
        sys.exit(subprocess.run([py, os.path.abspath(__file__), "--inside", *extra]).returncode)
    rust, fixture = inside()
    if a.check:
        bad = [p for p, text in [(TABLES, rust), (FIXTURE, fixture)]
               if not os.path.exists(p) or open(p).read() != text]
        for p in bad:
            print(f"{os.path.relpath(p, ROOT)} differs from a fresh run", file=sys.stderr)
        sys.exit(1 if bad else 0)
    for p, text in [(TABLES, rust), (FIXTURE, fixture)]:
        with open(p, "w") as f:
            f.write(text)
        print(f"wrote {os.path.relpath(p, ROOT)} ({len(text)} bytes)")


if __name__ == "__main__":
    main()
