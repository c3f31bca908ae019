"""Runs the seeds' own RSMC code (nolerk/gfn-smc-jax) on a paper target, in resumable pieces.

    python3 scripts/seeds_code_run.py --clone PATH --out DIR --seed 0 --stop-at K

`--clone` is a checkout of https://github.com/nolerk/gfn-smc-jax at the commit labelled
"submitted version", 6b54686 (the script checks the trainer it patches against that commit's
file). Nothing of it is copied into this repository: the script reads its trainer, adds
three hooks in memory (resume after the prefill, a checkpoint every `--checkpoint-every`
iterations and at `--stop-at`, one JSON line per evaluation) and runs it through the
clone's own Hydra configs with `algorithm=gfn_subtb_smc` (RSMC: TB + SMC + IW-buffer, the
table's "TB + SMC + IW-Buffer") and the target's config. W&B is replaced by a stub; the
evaluation is the code's own (`discrepancies/sd` is the published Sinkhorn column).

It writes to DIR: `metrics.jsonl` (one line per evaluation, the code's logger values),
`checkpoint.pkl.gz` (parameters, optimiser state, buffer, the key and the logger; a resumed
run continues with the same bits on the same CPU, as XLA compiles for the host's vector
units) and, when the run reaches its last iteration, `samples.csv` (`--final-samples` draws
from the final policy, 2000 per key `PRNGKey(1_000_000 + i)`). Ctrl-C stops it after the
iteration in progress, with a checkpoint; a kill loses the iterations since the last one.
`--sample-now` draws from the checkpoint's policy without training (`samples-ITERATION.csv`),
to look at a run midway. Pinned packages (jax 0.6.2, the version whose GMM40 draw the
published table was made on, docs/results.md) are installed into `--venv` on first use.
"""
import argparse
import hashlib
import os
import signal
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from pinned_venv import ensure_venv  # noqa: E402

PINS = [
    "jax[cpu]==0.6.2",
    "jaxlib==0.6.2",
    "numpy==2.2.6",
    "flax==0.10.7",
    "optax==0.2.8",
    "chex==0.1.90",
    "distrax==0.1.5",
    "tensorflow-probability==0.24.0",
    "numpyro==0.14.0",
    "dm-haiku==0.0.12",
    "ott-jax==0.4.6",
    "hydra-core==1.3.2",
    "omegaconf==2.3.1",
    "ml-collections==0.1.1",
    "mergedeep==1.3.4",
    "matplotlib==3.8.4",
    "pandas==2.2.2",
    "tqdm==4.66.1",
]
TRAINER = "algorithms/gfn_subtb_smc/gfn_subtb_smc_trainer.py"
# sha256 of TRAINER at 6b54686, the commit the published table was made with.
TRAINER_SHA256 = "073ee8bae12b129589c75768aa7616e3d0ecf90b07cec72270c5369c6c64928e"
# Every piece of a run runs with these (single-threaded Eigen matrix products; XLA's own task
# pool still spreads the rest over the cores, so the process takes both cores of this machine).
XLA_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
# The targets run so far (the child maps each to the clone's Hydra overrides).
TARGETS = ["gmm40-2d"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clone", required=True, help="checkout of nolerk/gfn-smc-jax at 6b54686")
    ap.add_argument("--out", required=True)
    ap.add_argument("--target", default="gmm40-2d", choices=sorted(TARGETS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--stop-at", type=int, default=None, help="stop after this many iterations")
    ap.add_argument("--checkpoint-every", type=int, default=200)
    ap.add_argument("--final-samples", type=int, default=20000)
    ap.add_argument(
        "--sample-now", action="store_true",
        help="write --final-samples draws of the checkpoint's policy to samples-ITERATION.csv, no training",
    )
    ap.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="a further Hydra override (tests: target.all.iters=400 n_evals=4)",
    )
    ap.add_argument("--venv", default=os.path.join(HERE, "..", "target", "py-seeds-code"))
    a = ap.parse_args()
    src = os.path.join(a.clone, TRAINER)
    if not os.path.exists(src):
        sys.exit(f"--clone: {src} does not exist; pass a checkout of nolerk/gfn-smc-jax")
    digest = hashlib.sha256(open(src, "rb").read()).hexdigest()
    if digest != TRAINER_SHA256:
        sys.exit(f"--clone: {TRAINER} is not 6b54686's (sha256 {digest}); check out 6b54686")
    if a.checkpoint_every < 1 or (a.stop_at is not None and a.stop_at < 1):
        sys.exit("--checkpoint-every and --stop-at must be at least 1")
    if a.final_samples % 2000 != 0:
        sys.exit("--final-samples must be a multiple of 2000")
    py = ensure_venv(a.venv, PINS)
    env = dict(os.environ)
    env["XLA_FLAGS"] = XLA_FLAGS
    os.makedirs(a.out, exist_ok=True)
    child = os.path.join(HERE, "seeds_code_child.py")
    cmd = [py, child, a.clone, a.out, a.target, str(a.seed), str(a.stop_at or 0)]
    mode = "sample" if a.sample_now else "train"
    cmd += [str(a.checkpoint_every), str(a.final_samples), mode, *a.set]
    # Ctrl-C reaches the child, which finishes its iteration and checkpoints; this process waits.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(subprocess.run(cmd, env=env).returncode)


if __name__ == "__main__":
    main()
