"""The half of seeds_code_run.py that runs inside its pinned venv (see that script).

argv: CLONE OUT TARGET SEED STOP_AT (0: none) CHECKPOINT_EVERY FINAL_SAMPLES MODE (train or
sample) [OVERRIDE ...].
"""
import gzip
import json
import os
import pickle
import signal
import sys
import time
import types

CLONE, OUT, TARGET = sys.argv[1], sys.argv[2], sys.argv[3]
SEED, STOP_AT, EVERY, FINAL = (int(v) for v in sys.argv[4:8])
MODE, EXTRA = sys.argv[8], sys.argv[9:]
TRAINER = "algorithms/gfn_subtb_smc/gfn_subtb_smc_trainer.py"
OVERRIDES = {"gmm40-2d": ["target=gaussian_mixture40", "target.dim=2"]}
# The logger's values written per evaluation (the published table reads KL/elbo, KL/eubo
# and discrepancies/sd).
KEYS = [
    "KL/elbo", "KL/eubo", "logZ/reverse", "logZ/forward", "ESS/reverse", "ESS/forward",
    "discrepancies/sd", "discrepancies/mmd", "other/EMC",
]
# The hooks' anchors in the trainer and what each becomes.
PATCHES = [
    (
        "    for it in range(alg_cfg.iters):\n",
        "    _start, key_gen, model_state, buffer_state = _hook_resume(\n"
        "        key_gen, model_state, buffer_state, logger,\n"
        "        partial(simulate_fwd_traj_partial, batch_size=cfg.eval_samples))\n"
        "    for it in range(_start, alg_cfg.iters):\n",
    ),
    (
        "                wandb.log(extract_last_entry(logger), step=it)\n",
        "                wandb.log(extract_last_entry(logger), step=it)\n"
        "        _hook_after(it, alg_cfg.iters, key_gen, model_state, buffer_state, logger)\n",
    ),
]
CKPT = os.path.join(OUT, "checkpoint.pkl.gz")
METRICS = os.path.join(OUT, "metrics.jsonl")


class Stop(Exception):
    pass


def stub_wandb():
    w = types.ModuleType("wandb")
    w.Image = lambda *a, **k: None
    w.log = lambda *a, **k: None
    sys.modules["wandb"] = w


def state():
    return {"sampler": None, "t0": time.time(), "seconds": 0.0, "interrupted": False}


S = state()


def hook_resume(key_gen, model_state, buffer_state, logger, sampler):
    """Replaces the prefilled start with the checkpoint's state, if there is one."""
    import jax
    import jax.numpy as jnp
    from flax import serialization

    S["sampler"] = jax.jit(lambda key, ms: sampler(key, ms, ms.params, prior_to_target=True)[0])
    if MODE == "sample" and not os.path.exists(CKPT):
        sys.exit(f"--sample-now: {CKPT} does not exist")
    if not os.path.exists(CKPT):
        open(METRICS, "w").close()
        return 0, key_gen, model_state, buffer_state
    with gzip.open(CKPT, "rb") as f:
        ck = pickle.load(f)
    model_state = serialization.from_state_dict(model_state, ck["model"])
    leaves, tree = jax.tree_util.tree_flatten(buffer_state)
    buffer_state = jax.tree_util.tree_unflatten(tree, [jnp.asarray(v) for v in ck["buffer"]])
    logger.clear()
    logger.update({k: [jnp.asarray(v) for v in vs] for k, vs in ck["logger"].items()})
    S["seconds"] = ck["seconds"]
    start = ck["iteration"]
    if MODE == "sample":
        final_samples(model_state, f"samples-{start}.csv")
        raise Stop()
    # Evaluations written after the checkpoint (a kill between two) are run again.
    lines = [l for l in open(METRICS) if json.loads(l)["iteration"] < start]
    open(METRICS, "w").writelines(lines)
    print(f"resumed at iteration {start}", flush=True)
    return start, jnp.asarray(ck["key_gen"]), model_state, buffer_state


def save(it, key_gen, model_state, buffer_state, logger):
    import jax
    from flax import serialization

    ck = {
        "iteration": it + 1,
        "key_gen": jax.device_get(key_gen),
        "model": jax.device_get(serialization.to_state_dict(model_state)),
        "buffer": [jax.device_get(v) for v in jax.tree_util.tree_leaves(buffer_state)],
        "logger": {
            k: [jax.device_get(v) for v in vs]
            for k, vs in logger.items()
            if isinstance(vs, list) and not k.startswith("figures")
        },
        "seconds": seconds(),
    }
    tmp = CKPT + ".tmp"
    with gzip.open(tmp, "wb") as f:
        pickle.dump(ck, f)
    os.replace(tmp, CKPT)


def seconds():
    return S["seconds"] + time.time() - S["t0"]


def hook_after(it, iters, key_gen, model_state, buffer_state, logger):
    steps = logger.get("stats/step", [])
    if steps and int(steps[-1]) == it:
        line = {"iteration": it, "seconds": round(seconds(), 3)}
        for k in KEYS:
            if logger.get(k):
                line[k] = float(logger[k][-1])
        with open(METRICS, "a") as f:
            f.write(json.dumps(line) + "\n")
    last = it == iters - 1
    stop = it + 1 == STOP_AT or S["interrupted"]
    if (it + 1) % EVERY == 0 or stop or last:
        save(it, key_gen, model_state, buffer_state, logger)
    if last:
        final_samples(model_state, "samples.csv")
    elif stop:
        raise Stop()


def final_samples(model_state, name):
    import jax
    import numpy as np

    xs = [
        np.asarray(S["sampler"](jax.random.PRNGKey(1_000_000 + i), model_state))
        for i in range(FINAL // 2000)
    ]
    np.savetxt(os.path.join(OUT, name), np.concatenate(xs), delimiter=",", fmt="%.9g")
    print(f"wrote {FINAL} samples to {name}", flush=True)


def patched_trainer():
    text = open(os.path.join(CLONE, TRAINER)).read()
    for old, new in PATCHES:
        if text.count(old) != 1:
            sys.exit(f"the trainer's anchor {old.strip()!r} is not there exactly once")
        text = text.replace(old, new)
    mod = types.ModuleType("algorithms.gfn_subtb_smc.gfn_subtb_smc_trainer")
    mod.__file__ = os.path.join(CLONE, TRAINER)
    mod._hook_resume, mod._hook_after = hook_resume, hook_after
    exec(compile(text, mod.__file__, "exec"), mod.__dict__)
    return mod.gfn_subtb_smc_trainer


def interrupt(signum, frame):
    """Ctrl-C: finish the iteration, write the checkpoint, stop."""
    S["interrupted"] = True


def main():
    signal.signal(signal.SIGINT, interrupt)
    stub_wandb()
    sys.path.insert(0, CLONE)
    import hydra
    from hydra import compose, initialize_config_dir

    overrides = ["algorithm=gfn_subtb_smc", "use_wandb=False", f"seed={SEED}"]
    overrides += OVERRIDES[TARGET] + EXTRA
    with initialize_config_dir(config_dir=os.path.join(CLONE, "configs"), version_base=None):
        cfg = compose(config_name="base_conf", overrides=overrides)
    cfg = hydra.utils.instantiate(cfg)
    trainer = patched_trainer()
    try:
        trainer(cfg, cfg.target.fn)
        print("finished", flush=True)
    except Stop:
        if MODE == "train":
            print("stopped at its checkpoint: the same command resumes it", flush=True)


if __name__ == "__main__":
    main()
