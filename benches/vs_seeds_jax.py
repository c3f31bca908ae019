#!/usr/bin/env python3
"""This project against the RSMC seeds' own JAX code at the paper's shape, one core, one run.

A researcher who wants RSMC today runs the authors' JAX trainer (`nolerk/gfn-smc-jax`). This
script times its RSMC (`gfn_subtb_smc`) and on-policy TB (`gfn_tb`, no buffer) iterations on
GMM40-2d at the paper's shape (batch and particles 2000, policy width 256, flow width 64,
T = 64, prefill 100, buffer 100 batches), and `amortise train` at the same settings on the
same target (`gmm40-jax`, the JAX code's own means), in alternating rounds, pinned to one core,
and prints the medians and the ratios.

    python3 benches/vs_seeds_jax.py --seeds DIR --amortise target/release/amortise \
        [--venv DIR] [--rounds 2] [--iters 45] [--core 0] [--json out.json]

`--seeds DIR` is a checkout of github.com/nolerk/gfn-smc-jax (not part of this repository;
nothing of it is copied here). The JAX side runs the repository's `run.py` unmodified in a
venv this script creates with the pinned packages below (the versions the seeds lock; haiku
and tensorflow are not needed by these two trainers). Its per-iteration time is taken by
wrapping the global `utils.logger.log` at run time: the trainer calls it once per iteration
with the iteration's `tb_loss`, on which the wrapper blocks (`jax.block_until_ready`) before
taking a timestamp. JAX's compilation (one to two minutes) and the first cycles are left out:
the time per iteration is the median over whole 3-iteration cycles (one on-policy, two
off-policy for RSMC) after the first `--warmup` iterations.

amortise's time per iteration comes from the `seconds` field of its `metrics.jsonl` rows,
evaluated every 3 iterations with 200 samples and no snapshots; the median cycle over the rows
after the first. Only the standard library is needed outside the venv.
"""
import argparse
import json
import os
import runpy
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from pinned_venv import ensure_venv  # noqa: E402

PINS = [
    "jax[cpu]==0.6.2", "jaxlib==0.6.2", "flax==0.10.7", "ott-jax==0.4.6", "distrax==0.1.5",
    "numpyro==0.14.0", "tensorflow-probability==0.24.0", "hydra-core==1.3.2", "wandb==0.15.10",
    "comet_ml==3.58.8", "optax==0.2.8", "chex==0.1.90", "numpy==1.26.4", "pandas==3.0.6",
    "matplotlib==3.11.2", "ml-collections==0.1.1",
]
DEFAULT_VENV = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "seeds-jax-venv")

# The seeds' hydra overrides for the paper shape on GMM40-2d (`target.all.*` are per-target
# settings shared by every algorithm; iters bounds the run).
SHAPE = ["target=gaussian_mixture40", "target.all.batch_size=2000", "target.all.num_hid=256",
         "target.all.num_steps=64", "n_evals=1", "use_logger=True", "logger.use_comet=False",
         "+use_wandb=False", "visualize_samples=False"]
METHODS = {
    "rsmc": (["algorithm=gfn_subtb_smc"],
             ["--method", "rsmc", "--particles", "2000", "--flow-hidden", "64", "--prefill", "100",
              "--buffer", "200000"]),
    "tb": (["algorithm=gfn_tb", "algorithm.buffer.use=False"], ["--method", "tb"]),
}


def inner(seeds, times_path, overrides):
    """Runs inside the venv with cwd = the seeds' checkout: run.py's main, timed."""
    sys.path.insert(0, seeds)
    os.environ.setdefault("WANDB_MODE", "disabled")
    import jax
    import utils.logger as lg

    stamps = []
    original = lg.log

    def timed(metrics, step=None):
        if "tb_loss" in metrics:
            jax.block_until_ready(metrics["tb_loss"])
            stamps.append((step, time.perf_counter()))
            with open(times_path, "w") as f:
                json.dump(stamps, f)
        return original(metrics, step=step)

    lg.log = timed  # the trainers import `log` from here when get_train_fn imports them
    sys.argv = [os.path.join(seeds, "run.py"), *overrides]
    runpy.run_path(sys.argv[0], run_name="__main__")


def median_cycle(stamps, warmup):
    """Median seconds per iteration over whole 3-iteration cycles after `warmup` iterations."""
    t = [s for _, s in stamps][warmup:]
    cycles = [(t[i + 3] - t[i]) / 3 for i in range(0, len(t) - 3, 3)]
    if not cycles:
        sys.exit(f"too few timed iterations ({len(stamps)}): raise --iters")
    return statistics.median(cycles)


def run_jax(py, seeds, method, iters, warmup, core):
    with tempfile.TemporaryDirectory() as tmp:
        times = os.path.join(tmp, "times.json")
        cmd = ["taskset", "-c", str(core), py, os.path.abspath(__file__), "--inner", times,
               "--seeds", seeds, "--", *METHODS[method][0], *SHAPE, f"target.all.iters={iters}"]
        env = dict(os.environ, WANDB_MODE="disabled", HYDRA_FULL_ERROR="1")
        out = subprocess.run(cmd, cwd=seeds, env=env, capture_output=True, text=True)
        if out.returncode != 0 or not os.path.exists(times):
            sys.exit(f"the seeds' run failed ({out.returncode}):\n{out.stderr[-3000:]}")
        return median_cycle(json.load(open(times)), warmup)


def run_ours(exe, method, iters, core):
    with tempfile.TemporaryDirectory() as tmp:
        cmd = ["taskset", "-c", str(core), exe, "train", "--target", "gmm40-jax", "--dim", "2",
               *METHODS[method][1], "--batch", "2000", "--hidden", "256", "--harmonics", "256",
               "--steps", "64", "--iters", str(iters), "--eval-every", "3", "--eval-samples",
               "200", "--checkpoint-every", "0", "--out", tmp]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"amortise failed ({out.returncode}): {' '.join(cmd)}\n{out.stderr[-2000:]}")
        rows = [json.loads(line) for line in open(os.path.join(tmp, "metrics.jsonl"))]
        secs = [r["seconds"] for r in rows]
        cycles = [(b - a) / 3 for a, b in zip(secs[1:], secs[2:])]
        return statistics.median(cycles)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--inner":
        sep = sys.argv.index("--")
        inner(sys.argv[sys.argv.index("--seeds") + 1], sys.argv[2], sys.argv[sep + 1:])
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", required=True, help="checkout of nolerk/gfn-smc-jax")
    ap.add_argument("--amortise", required=True, help="the amortise binary to measure")
    ap.add_argument("--venv", default=DEFAULT_VENV, help="virtual environment to create/use")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--iters", type=int, default=45, help="iterations per run (both sides)")
    ap.add_argument("--warmup", type=int, default=6, help="JAX iterations left out at the start")
    ap.add_argument("--core", type=int, default=0, help="the one CPU core both sides run on")
    ap.add_argument("--methods", default="rsmc,tb")
    ap.add_argument("--json", help="also write the medians and ratios here")
    a = ap.parse_args()
    methods = a.methods.split(",")
    for m in methods:
        if m not in METHODS:
            sys.exit(f"--methods: unknown method {m!r} (rsmc, tb)")
    if a.rounds < 1 or a.iters < a.warmup + 9:
        sys.exit("--rounds must be >= 1 and --iters >= --warmup + 9")
    seeds = os.path.abspath(a.seeds)
    if not os.path.exists(os.path.join(seeds, "run.py")):
        sys.exit(f"--seeds: {seeds} has no run.py (a checkout of nolerk/gfn-smc-jax)")
    py = ensure_venv(os.path.abspath(a.venv), PINS)
    got = {f"{side}_{m}": [] for side in ("jax", "ours") for m in methods}
    for r in range(a.rounds):
        print(f"round {r + 1}/{a.rounds}:", subprocess.run(["uptime"], capture_output=True,
                                                           text=True).stdout.strip(), flush=True)
        for m in methods:
            j = run_jax(py, seeds, m, a.iters, a.warmup, a.core)
            o = run_ours(a.amortise, m, a.iters, a.core)
            got[f"jax_{m}"].append(j)
            got[f"ours_{m}"].append(o)
            print(f"  {m}: seeds' JAX {j:.3f} s/it, amortise {o:.3f} s/it ({j / o:.2f}x)", flush=True)
    med = {k: statistics.median(v) for k, v in got.items()}
    ratios = {f"{m}_speedup": med[f"jax_{m}"] / med[f"ours_{m}"] for m in methods}
    print("medians over rounds (seconds per iteration, one core):")
    for k, v in med.items():
        print(f"  {k} {v:.3f}")
    print("amortise vs the seeds' JAX (target >= 2):")
    for k, v in ratios.items():
        print(f"  {k} {v:.2f}x")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"rounds": got, "medians": med, "ratios": ratios}, f, indent=1)


if __name__ == "__main__":
    main()
