#!/usr/bin/env python3
"""Reference samples of the ALDP target by parallel tempering (OpenMM, CPU platform, 1 thread).

    python3 scripts/aldp/reference_md.py run [--until HH:MM | --ns-per-replica N] [--seed 0]
    python3 scripts/aldp/reference_md.py analyse      # rewrites reference.json from the files
    python3 scripts/aldp/reference_md.py verify       # x(X_ref) = 0, φ/ψ against mdtraj

The ensemble is the exact target's: `openmmtools.testsystems.AlanineDipeptideImplicit(
constraints=None)` (AMBER ff96, OBC1 + ACE, no cutoff, no constraints) at 300 K, sampled with
`LangevinMiddleIntegrator` (1 fs, friction 1/ps) on the CPU platform with one thread.

**Parallel tempering**: one OpenMM Context per temperature of a geometric ladder (default five
rungs, 300 … 600 K). Every `--exchange-ps` each context runs its steps, then neighbouring
rungs try to swap configurations (even pairs on even rounds, odd pairs on odd rounds) with the
Metropolis probability min(1, exp((β_i − β_j)(U_i − U_j))); a swapped velocity is rescaled by
sqrt(T_new/T_old). Only the 300 K rung is sampled, every `--sample-ps`, after `--burn-in-ps`.

**Resumable and deterministic**: the run is cut into chunks of `--chunk-ps` per rung. Each chunk
builds fresh contexts whose integrator seeds, and the exchange RNG, derive from
(seed, chunk index, rung) alone; positions and velocities carry over in float64. After every
chunk the files in `--out` are rewritten atomically, so stopping the script at any time loses at
most one chunk, and running it again continues from the last chunk: an interrupted run and an
uninterrupted one go through the same chunks with the same seeds (bit-identical as far as the
CPU platform is deterministic, which it is with one thread).

Files in `--out` (default `results/aldp`):

- `checkpoint.npz`: the state after the last finished chunk (settings, chunk index, positions
  and velocities of every rung in nm and nm/ps, the replica at each rung, exchange counters).
- `reference-cart.csv.gz`: one row per sample: `t_ps` (simulated time at 300 K), `replica`
  (which replica was at 300 K), `energy_kj` (potential energy, CPU platform), `phi`, `psi`
  (IUPAC dihedrals 4-6-8-14 and 6-8-14-16, rad), then `c0 … c65` (atom i, axis k at
  `c{3i+k}`, nm, OpenMM's frame, 6 decimals). This file is the sample store; resuming reads it.
- `reference-x.csv.gz`: the same samples in the target's 60-d sampler space (header
  `x1 … x60`, the CLI's sample-file format): boltzgen's internal coordinates normalised on
  X_ref, `atanh` on the circular dihedrals, computed from the rounded Cartesian rows
  (`x_from_positions`, as `amortise_kernel::targets::aldp::Aldp::x_from_positions`).
- `reference.json`: settings, counters, timings and the diagnostics (basin populations with
  block-averaging errors, autocorrelation times, exchange acceptance, replica round trips).

Pinned like scripts/aldp/openmm_export.py: the script makes its own virtual environment
(`target/venv-aldp`, or `--venv DIR`) with the packages of PINS and re-runs itself there.
"""

import argparse
import contextlib
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import time
import venv
from pathlib import Path

PINS = ["openmm==8.6.1", "openmmtools==0.27.0", "numpy==2.3.5", "mdtraj==1.11.0"]
ROOT = Path(__file__).resolve().parents[2]
XREF_CSV = ROOT / "scripts/aldp/position_min_energy.csv"
COMMAND = "python3 scripts/aldp/reference_md.py"
N_ATOMS = 22
KB = 8.314e-3  # boltzgen's R (kJ mol⁻¹ K⁻¹), the target's kT = KB · 300
KB_OPENMM = 0.00831446261815324  # OpenMM's MOLAR_GAS_CONSTANT_R (its thermostat uses this)

# ---- the target's internal coordinates (kernel/src/targets/aldp/internal.rs, target.rs) ----
Z_MATRIX = [
    (0, [1, 4, 6]), (1, [4, 6, 8]), (2, [1, 4, 0]), (3, [1, 4, 0]), (4, [6, 8, 14]),
    (5, [4, 6, 8]), (7, [6, 8, 4]), (9, [8, 6, 4]), (10, [8, 6, 4]), (11, [10, 8, 6]),
    (12, [10, 8, 11]), (13, [10, 8, 11]), (15, [14, 8, 16]), (16, [14, 8, 6]),
    (17, [16, 14, 15]), (18, [16, 14, 8]), (19, [18, 16, 14]), (20, [18, 16, 19]),
    (21, [18, 16, 19]),
]
IND_CIRC = [17, 20, 23, 26, 29, 32, 44, 50, 53, 8, 47, 5]
PI_PLUS_EPS = 3.141592653589793 + 1e-4
PHI_ATOMS = (4, 6, 8, 14)
PSI_ATOMS = (6, 8, 14, 16)
OMEGA_ATOMS = [(1, 4, 6, 8), (8, 14, 16, 18)]  # the two peptide bonds (ACE–ALA, ALA–NME)
CHIRALITY = (17, 26, -0.043, 0.8)  # RSMC's L-form test on raw x (target.rs::penalty)

# Basins (φ, ψ in degrees), a partition of the Ramachandran plane.
BASINS = {
    "alpha_L": "phi > 0 (alpha_L and C7ax)",
    "beta_C7eq": "phi <= 0 and (psi >= 50 or psi < -120) (beta, PII, C5, C7eq)",
    "alpha_R": "phi <= 0 and -120 <= psi < 50",
}


def kinds():
    k = ["bond", "bond", "angle"]
    for _ in Z_MATRIX:
        k += ["bond", "angle", "dihedral"]
    return k


def stds():
    s = [{"bond": 0.005, "angle": 0.15, "dihedral": 0.2}[k] for k in kinds()]
    for c in IND_CIRC:
        s[c] = 1.0
    return s


def ensure_venv(path: Path) -> None:
    """Re-runs this script inside `path` (created and pip-installed with PINS if needed)."""
    if Path(sys.prefix).resolve() == path.resolve():
        return
    py = path / "bin" / "python"
    marker = path / "amortise-reference-pins.txt"
    if not py.exists():
        print(f"creating {path}", file=sys.stderr)
        venv.create(path, with_pip=True)
    if not marker.exists() or marker.read_text() != "\n".join(PINS):
        subprocess.check_call([str(py), "-m", "pip", "install", "--quiet", *PINS])
        marker.write_text("\n".join(PINS))
    os.execv(str(py), [str(py), str(Path(__file__).resolve()), *sys.argv[1:]])


def read_xref():
    import numpy as np
    rows = [r for r in XREF_CSV.read_text().split("\n")[1:] if r]
    x = np.array([[float(v) for v in r.split(",")[1:]] for r in rows])
    assert x.shape == (N_ATOMS, 3)
    return x


def iupac_dihedral(p0, p1, p2, p3):
    """IUPAC dihedral p0-p1-p2-p3 (rad, in [−π, π]) over leading axes (arrays (..., 3))."""
    import numpy as np
    b0 = p0 - p1
    b1 = p2 - p1
    b1 = b1 / np.linalg.norm(b1, axis=-1, keepdims=True)
    b2 = p3 - p2
    v = b0 - b1 * np.sum(b0 * b1, axis=-1, keepdims=True)
    w = b2 - b1 * np.sum(b2 * b1, axis=-1, keepdims=True)
    return np.arctan2(np.sum(np.cross(b1, v) * w, axis=-1), np.sum(v * w, axis=-1))


def _angle(a, b):
    import numpy as np
    c = np.sum(a / np.linalg.norm(a, axis=-1, keepdims=True)
               * (b / np.linalg.norm(b, axis=-1, keepdims=True)), axis=-1)
    return np.arccos(np.clip(c, -1.0, 1.0))


def raw_internal(X):
    """boltzgen's raw internal coordinates q (nm, rad) of frames X (n, 22, 3)."""
    import numpy as np
    n = X.shape[0]
    q = np.empty((n, 60))
    p21, p31 = X[:, 6] - X[:, 8], X[:, 14] - X[:, 8]
    q[:, 0] = np.linalg.norm(p21, axis=-1)
    q[:, 1] = np.linalg.norm(p31, axis=-1)
    q[:, 2] = _angle(p21, p31)
    for r, (a, (p, qq, s)) in enumerate(Z_MATRIX):
        q[:, 3 + 3 * r] = np.linalg.norm(X[:, a] - X[:, p], axis=-1)
        q[:, 4 + 3 * r] = _angle(X[:, qq] - X[:, p], X[:, a] - X[:, p])
        q[:, 5 + 3 * r] = -iupac_dihedral(X[:, s], X[:, qq], X[:, p], X[:, a])
    return q


def _wrap(t):
    import numpy as np
    u = t + np.pi
    return u - 2.0 * np.pi * np.floor(u / (2.0 * np.pi)) - np.pi


def z_from_positions(X):
    """Normalised internal coordinates z (n, 60); z(X_ref) = 0 (target.rs::z_from_positions)."""
    import numpy as np
    mean = raw_internal(read_xref()[None])[0]
    dih = np.array([k == "dihedral" for k in kinds()])
    mean[dih] = np.arctan2(np.sin(mean[dih]), np.cos(mean[dih]))
    d = raw_internal(X) - mean
    d[:, dih] = _wrap(d[:, dih])
    return d / np.array(stds())


def x_from_positions(X):
    """The sampler-space points x (n, 60): z with atanh(z_c/(π + 1e-4)) on IND_CIRC."""
    import numpy as np
    x = z_from_positions(X)
    y = x[:, IND_CIRC] / PI_PLUS_EPS
    x[:, IND_CIRC] = 0.5 * np.log((1.0 + y) / (1.0 - y))
    return x


def phi_psi(X):
    return (iupac_dihedral(*(X[:, i] for i in PHI_ATOMS)),
            iupac_dihedral(*(X[:, i] for i in PSI_ATOMS)))


# ---- simulation ----

def build_system():
    quiet = io.StringIO()  # pymbar prints a banner on import
    with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        from openmmtools import testsystems
    ts = testsystems.AlanineDipeptideImplicit(constraints=None)
    assert ts.system.getNumParticles() == N_ATOMS and ts.system.getNumConstraints() == 0
    return ts


def derived_seed(*key) -> int:
    """A seed in 1 … 2³¹ − 1 from integers (OpenMM treats 0 as "pick one at random")."""
    h = hashlib.sha256(json.dumps([int(k) for k in key]).encode()).digest()
    return 1 + int.from_bytes(h[:8], "little") % (2**31 - 2)


def make_context(system, temp, seed, threads):
    import openmm as mm
    import openmm.unit as u
    integ = mm.LangevinMiddleIntegrator(temp * u.kelvin, 1.0 / u.picosecond, 1.0 * u.femtosecond)
    integ.setRandomNumberSeed(seed)
    plat = mm.Platform.getPlatformByName("CPU")
    return mm.Context(system, integ, plat, {"Threads": str(threads)}), integ


def fresh_state(args, system):
    """Chunk 0: every rung starts at X_ref with velocities drawn at its temperature."""
    import numpy as np
    import openmm.unit as u
    temps = np.geomspace(args.t_min, args.t_max, args.replicas)
    settings = {
        "seed": args.seed, "temperatures_k": temps.tolist(), "timestep_fs": 1.0,
        "friction_per_ps": 1.0, "exchange_steps": round(args.exchange_ps * 1000),
        "sample_every_exchanges": round(args.sample_ps / args.exchange_ps),
        "chunk_exchanges": round(args.chunk_ps / args.exchange_ps),
        "burn_in_exchanges": round(args.burn_in_ps / args.exchange_ps),
    }
    xref = read_xref()
    pos, vel = [], []
    for k, t in enumerate(temps):
        ctx, _ = make_context(system, t, derived_seed(args.seed, 0, k), 1)
        ctx.setPositions(xref * u.nanometer)
        ctx.setVelocitiesToTemperature(t * u.kelvin, derived_seed(args.seed, -1, k))
        s = ctx.getState(getPositions=True, getVelocities=True)
        pos.append(s.getPositions(asNumpy=True).value_in_unit(u.nanometer))
        vel.append(s.getVelocities(asNumpy=True).value_in_unit(u.nanometer / u.picosecond))
        del ctx
    k = len(temps)
    return {
        "settings": settings, "chunk": 0, "exchanges_done": 0,
        "positions": np.array(pos), "velocities": np.array(vel),
        "replica_at": np.arange(k), "attempts": np.zeros(k - 1, dtype=np.int64),
        "accepts": np.zeros(k - 1, dtype=np.int64),
        # round trips: the last end (0 = coldest, 1 = hottest, -1 = none yet) of each replica
        "last_end": np.where(np.arange(k) == 0, 0, np.where(np.arange(k) == k - 1, 1, -1)),
        "round_trips": np.zeros(k, dtype=np.int64), "n_samples": 0, "wall_seconds": 0.0,
        **rung_counters(k, 0), **rung_log_fields(k, 0),
        "openmm_version": "",
    }


def rung_counters(k, since_chunk):
    """Observation counters, updated at every exchange round from chunk `since_chunk` on:
    rounds observed, rounds with φ > 0 at each rung, and entries into φ > 0 of each replica
    (its own continuous trajectory, seen every exchange interval)."""
    import numpy as np
    return {"rung_obs": 0, "rung_obs_since_chunk": since_chunk,
            "rung_alpha_l": np.zeros(k, dtype=np.int64),
            "replica_alpha_l_entries": np.zeros(k, dtype=np.int64),
            "replica_phi_pos": np.full(k, -1, dtype=np.int64)}


def rung_log_fields(k, since_chunk):
    """Every exchange round from chunk `since_chunk` on: (U in kJ/mol, φ, ψ) of each rung
    before the swaps (float32), for the MBAR estimate over all rungs."""
    import numpy as np
    return {"rung_log": np.zeros((0, k, 3), dtype=np.float32), "rung_log_since_chunk": since_chunk}


def save_state(path: Path, st):
    import numpy as np
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, settings=json.dumps(st["settings"]),
                        openmm_version=st["openmm_version"],
                        **{k: np.asarray(v) for k, v in st.items()
                           if k not in ("settings", "openmm_version")})
    os.replace(tmp, path)


def load_state(path: Path):
    import numpy as np
    with np.load(path) as f:
        st = {k: f[k] for k in f.files}
    st["settings"] = json.loads(str(st["settings"]))
    st["openmm_version"] = str(st["openmm_version"])
    if "rung_obs" not in st:  # checkpoints written before these counters existed
        st.update(rung_counters(len(st["replica_at"]), int(st["chunk"])))
    if "rung_log" not in st:
        st.update(rung_log_fields(len(st["replica_at"]), int(st["chunk"])))
    st["rung_log_since_chunk"] = int(st["rung_log_since_chunk"])
    for k in ("chunk", "exchanges_done", "n_samples", "rung_obs", "rung_obs_since_chunk"):
        st[k] = int(st[k])
    st["wall_seconds"] = float(st["wall_seconds"])
    return st


SAMPLE_COLS = ["t_ps", "replica", "energy_kj", "phi", "psi"] + [f"c{i}" for i in range(66)]
CART_HEADER = SAMPLE_COLS[:5] + ["log_w"] + SAMPLE_COLS[5:]


def log_weights(samples, temp_md):
    """log w = log(target density / sampled density) of each row, up to a constant.

    The MD samples the Cartesian Boltzmann density at OpenMM's kT (R = 8.31446261815324e-3);
    its push-forward to internal coordinates carries the full Jacobian b₁² b₂² sin a of the
    gauge frame (b₁ = |X₆ − X₈|, b₂ = |X₁₄ − X₈|, a = ∠(6, 8, 14)), while the target uses
    boltzgen's R = 8.314e-3 and the gauge-fixed determinant with b₂ alone. Hence
    log w = −U (1/kT_target − 1/kT_md) − 2 ln b₁ − ln b₂ − ln sin a.
    """
    import numpy as np
    X = samples[:, 5:].reshape(-1, N_ATOMS, 3)
    q = raw_internal(X)
    du = 1.0 / (KB * 300.0) - 1.0 / (KB_OPENMM * temp_md)
    return -samples[:, 2] * du - 2.0 * np.log(q[:, 0]) - np.log(q[:, 1]) - np.log(np.sin(q[:, 2]))


def read_samples(out: Path, n: int):
    """The first `n` rows of reference-cart.csv.gz (columns of SAMPLE_COLS) as float64."""
    import numpy as np
    path = out / "reference-cart.csv.gz"
    if n == 0:
        return np.zeros((0, len(SAMPLE_COLS)))
    with gzip.open(path, "rt") as f:
        head = f.readline().strip().split(",")
        assert head in (CART_HEADER, SAMPLE_COLS), "unexpected header in " + str(path)
        rows = np.loadtxt(f, delimiter=",", ndmin=2)
    if head == CART_HEADER:  # log_w is derived: dropped here, recomputed when written
        rows = np.delete(rows, 5, axis=1)
    if rows.shape[0] < n:
        sys.exit(f"{path} has {rows.shape[0]} rows, the checkpoint expects {n}")
    return rows[:n]


def fmt_rows(rows, fmts):
    return "".join(",".join(f % v for f, v in zip(fmts, r)) + "\n" for r in rows)


def write_gz(path: Path, text: str):
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as raw:
        # mtime 0 and no file name: the same samples give the same bytes
        with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0, filename="") as g:
            g.write(text.encode())
    os.replace(tmp, path)


SAMPLE_FMTS = ["%.1f", "%d", "%.4f", "%.9g", "%.9g"] + ["%.6f"] * 66


def as_stored(rows):
    """`rows` (columns SAMPLE_COLS) exactly as they read back from the file: a resumed run then
    holds the same numbers as an uninterrupted one."""
    import numpy as np
    return np.array([[float(v) for v in line.split(",")]
                     for line in fmt_rows(rows, SAMPLE_FMTS).splitlines()]).reshape(-1, len(rows[0]))


def write_samples(out: Path, samples, temp_md):
    """Rewrites both sample files from the Cartesian rows (rounded as stored)."""
    import numpy as np
    fmts = SAMPLE_FMTS[:5] + ["%.9g"] + SAMPLE_FMTS[5:]
    rows = np.insert(samples, 5, log_weights(samples, temp_md), axis=1)
    write_gz(out / "reference-cart.csv.gz", ",".join(CART_HEADER) + "\n" + fmt_rows(rows, fmts))
    x = x_from_positions(samples[:, 5:].reshape(-1, N_ATOMS, 3))
    assert np.all(np.isfinite(x))
    header = ",".join(f"x{i + 1}" for i in range(60)) + "\n"
    write_gz(out / "reference-x.csv.gz", header + fmt_rows(x, ["%.9g"] * 60))


def run(args):
    import numpy as np
    import openmm as mm
    import openmm.unit as u
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "checkpoint.npz"
    ts = build_system()
    if ckpt.exists():
        st = load_state(ckpt)
        print(f"resuming at chunk {st['chunk']} ({st['n_samples']} samples)", file=sys.stderr)
    else:
        st = fresh_state(args, ts.system)
    st["openmm_version"] = mm.__version__
    cfg = st["settings"]
    temps = np.array(cfg["temperatures_k"])
    betas = 1.0 / (KB_OPENMM * temps)
    nk = len(temps)
    samples = read_samples(out, st["n_samples"])
    deadline = parse_deadline(args.until)
    target_ex = None if args.ns_per_replica is None else round(
        args.ns_per_replica * 1e6 / cfg["exchange_steps"])
    chunk_wall = None
    while True:
        if target_ex is not None and st["exchanges_done"] >= target_ex:
            break
        if deadline is not None and time.time() + (chunk_wall or 0.0) > deadline:
            break
        t0 = time.time()
        chunk = st["chunk"]
        ctxs = [make_context(ts.system, temps[k], derived_seed(cfg["seed"], chunk, k), 1)
                for k in range(nk)]
        for k, (ctx, _) in enumerate(ctxs):
            ctx.setPositions(st["positions"][k] * u.nanometer)
            ctx.setVelocities(st["velocities"][k] * (u.nanometer / u.picosecond))
        rng = np.random.default_rng(derived_seed(cfg["seed"], chunk, -2))
        new, log_rows = [], []
        for _ in range(cfg["chunk_exchanges"]):
            for ctx, integ in ctxs:
                integ.step(cfg["exchange_steps"])
            states = [ctx.getState(getPositions=True, getVelocities=True, getEnergy=True)
                      for ctx, _ in ctxs]
            pos = [s.getPositions(asNumpy=True).value_in_unit(u.nanometer) for s in states]
            vel = [s.getVelocities(asNumpy=True).value_in_unit(u.nanometer / u.picosecond)
                   for s in states]
            pot = [s.getPotentialEnergy().value_in_unit(u.kilojoule_per_mole) for s in states]
            st["exchanges_done"] += 1
            phis, psis = phi_psi(np.array(pos))
            log_rows.append(np.stack([pot, phis, psis], axis=1))
            st["rung_obs"] += 1
            st["rung_alpha_l"] += phis > 0
            for k in range(nk):
                r = st["replica_at"][k]
                if phis[k] > 0 and st["replica_phi_pos"][r] == 0:
                    st["replica_alpha_l_entries"][r] += 1
                st["replica_phi_pos"][r] = int(phis[k] > 0)
            ex = st["exchanges_done"]
            if ex > cfg["burn_in_exchanges"] and ex % cfg["sample_every_exchanges"] == 0:
                X = as_stored([[0.0] * 5 + pos[0].reshape(-1).tolist()])[0, 5:].reshape(N_ATOMS, 3)
                phi, psi = phi_psi(X[None])
                new.append([ex * cfg["exchange_steps"] * 1e-3, st["replica_at"][0], pot[0],
                            phi[0], psi[0], *X.reshape(-1)])
            swapped = set()
            for i in range(ex % 2, nk - 1, 2):
                j = i + 1
                st["attempts"][i] += 1
                log_a = (betas[i] - betas[j]) * (pot[i] - pot[j])
                if np.log(rng.random()) < log_a:  # rng drawn for every attempt
                    st["accepts"][i] += 1
                    pos[i], pos[j] = pos[j], pos[i]
                    vel[i], vel[j] = (vel[j] * np.sqrt(temps[i] / temps[j]),
                                      vel[i] * np.sqrt(temps[j] / temps[i]))
                    ra = st["replica_at"]
                    ra[i], ra[j] = ra[j], ra[i]
                    swapped.update((i, j))
            for end, slot in ((0, 0), (1, nk - 1)):
                r = st["replica_at"][slot]
                if end == 0 and st["last_end"][r] == 1:
                    st["round_trips"][r] += 1
                st["last_end"][r] = end
            for k in swapped:
                ctxs[k][0].setPositions(pos[k] * u.nanometer)
                ctxs[k][0].setVelocities(vel[k] * (u.nanometer / u.picosecond))
            st["positions"] = np.array(pos)
            st["velocities"] = np.array(vel)
        del ctxs
        st["chunk"] = chunk + 1
        st["rung_log"] = np.concatenate([st["rung_log"], np.array(log_rows, dtype=np.float32)])
        if new:
            samples = np.concatenate([samples, as_stored(np.array(new))])
        st["n_samples"] = samples.shape[0]
        chunk_wall = time.time() - t0
        st["wall_seconds"] += chunk_wall
        write_samples(out, samples, temps[0])  # the rows first: a checkpoint never counts missing rows
        save_state(ckpt, st)
        analyse_into(out, st, samples)
        ns = st["exchanges_done"] * cfg["exchange_steps"] * 1e-6
        acc = st["accepts"] / np.maximum(st["attempts"], 1)
        print(f"chunk {chunk}: {ns:.3f} ns per replica, {st['n_samples']} samples, "
              f"acceptance {np.round(acc, 3).tolist()}, {chunk_wall:.1f} s", file=sys.stderr,
              flush=True)


def parse_deadline(until):
    """`HH:MM` (UTC, today) as epoch seconds, or None."""
    if until is None:
        return None
    import datetime as dt
    h, m = (int(v) for v in until.split(":"))
    now = dt.datetime.now(dt.timezone.utc)
    t = now.replace(hour=h, minute=m, second=0, microsecond=0)
    return t.timestamp()


# ---- diagnostics ----

def block_se(series, n_blocks):
    """Standard error of the mean of `series` from `n_blocks` contiguous blocks."""
    import numpy as np
    m = len(series) // n_blocks
    if m == 0:
        return float("nan")
    means = series[: m * n_blocks].reshape(n_blocks, m).mean(axis=1)
    return float(means.std(ddof=1) / np.sqrt(n_blocks))


def blocking_curve(series):
    """Flyvbjerg–Petersen: the naive standard error after 0, 1, 2, … pairwise blockings."""
    import numpy as np
    x = np.asarray(series, dtype=float)
    out = []
    while len(x) >= 8:
        out.append({"block_len": None, "n_blocks": len(x),
                    "se": float(x.std(ddof=1) / np.sqrt(len(x)))})
        n = len(x) // 2
        x = 0.5 * (x[: 2 * n: 2] + x[1: 2 * n: 2])
    for k, row in enumerate(out):
        row["block_len"] = 2 ** k
    return out


def tau_int(series, c=5.0):
    """Integrated autocorrelation time (in samples) with Sokal's automatic window."""
    import numpy as np
    x = np.asarray(series, dtype=float) - np.mean(series)
    n = len(x)
    if n < 4 or np.var(x) == 0:
        return float("nan")
    f = np.fft.rfft(x, 2 * n)
    acf = np.fft.irfft(f * np.conj(f))[:n] / (np.arange(n, 0, -1) * np.var(x))
    tau = 1.0
    for w in range(1, n):
        tau += 2.0 * acf[w]
        if w >= c * tau:
            break
    return float(tau)


def basin_indicators(phi, psi):
    """Indicators of BASINS from φ, ψ in radians."""
    import numpy as np
    phi, psi = np.degrees(phi), np.degrees(psi)
    return {
        "alpha_L": phi > 0,
        "beta_C7eq": (phi <= 0) & ((psi >= 50) | (psi < -120)),
        "alpha_R": (phi <= 0) & (psi >= -120) & (psi < 50),
    }


def mbar_300k(U, phi, psi, temps):
    """MBAR over the temperature rungs: basin populations at the coldest rung from the
    (n_rounds, K) energies and dihedrals of every rung (reduced energies β_k U)."""
    import numpy as np
    from scipy.special import logsumexp
    k = U.shape[1]
    beta = 1.0 / (KB_OPENMM * np.asarray(temps))
    uf = U.reshape(-1).astype(float)
    u = beta[:, None] * uf[None, :]
    log_n = np.log(np.full(k, U.shape[0], dtype=float))
    f = np.zeros(k)
    for _ in range(100000):
        log_den = logsumexp(log_n[:, None] + f[:, None] - u, axis=0)
        f_new = -logsumexp(-u - log_den[None, :], axis=1)
        f_new -= f_new[0]
        done = np.max(np.abs(f_new - f)) < 1e-10
        f = f_new
        if done:
            break
    lw = -u[0] - log_den
    w = np.exp(lw - lw.max())
    w /= w.sum()
    ind = basin_indicators(phi.reshape(-1), psi.reshape(-1))
    return {b: float(np.sum(w * v)) for b, v in ind.items()}, float(1.0 / np.sum(w**2))


def mbar_report(st):
    import numpy as np
    log = st["rung_log"]
    temps = st["settings"]["temperatures_k"]
    if log.shape[0] < 20:
        return None
    U, phi, psi = (log[:, :, i].astype(float) for i in range(3))
    est, ess = mbar_300k(U, phi, psi, temps)
    n_blocks = 10
    m = log.shape[0] // n_blocks
    blocks = [mbar_300k(U[i * m:(i + 1) * m], phi[i * m:(i + 1) * m], psi[i * m:(i + 1) * m],
                        temps)[0] for i in range(n_blocks)]
    return {
        "since_chunk": st["rung_log_since_chunk"], "rounds": int(log.shape[0]),
        "kish_ess": ess,
        "populations": {b: {"population": est[b],
                            "se_10_blocks": float(np.std([x[b] for x in blocks], ddof=1)
                                                  / np.sqrt(n_blocks))} for b in est},
        "per_rung_fraction": {b: v.mean(axis=0).tolist()
                              for b, v in basin_indicators(phi, psi).items()},
    }


def analyse_into(out: Path, st, samples):
    import numpy as np
    cfg = st["settings"]
    if len(samples) < 2:
        return None
    ind = basin_indicators(samples[:, 3], samples[:, 4])
    lw = log_weights(samples, cfg["temperatures_k"][0])
    w = np.exp(lw - lw.max())
    w = w / w.mean()
    pops = {}
    for name, b in ind.items():
        b = b.astype(float)
        pops[name] = {
            "definition": BASINS[name], "population": float(b.mean()),
            "se_10_blocks": block_se(b, 10), "se_20_blocks": block_se(b, 20),
            "se_naive": float(b.std(ddof=1) / np.sqrt(len(b))),
            "population_weighted": float(np.mean(w * b)),
            "se_weighted_10_blocks": block_se(w * b, 10),
            "tau_int_samples": tau_int(b),
            "entries": int(np.sum(np.diff(b) > 0)),
            "blocking_curve": blocking_curve(b),
        }
    X = samples[:, 5:].reshape(-1, N_ATOMS, 3)
    omega = [np.degrees(iupac_dihedral(*(X[:, i] for i in a))) for a in OMEGA_ATOMS]
    x = x_from_positions(X) if len(X) else np.zeros((0, 60))
    a, b_, mean_diff, thr = CHIRALITY
    d = x[:, a] - x[:, b_]
    d = np.where(np.abs(d + 2 * np.pi) < np.abs(d), d + 2 * np.pi, d)
    d = np.where(np.abs(d - 2 * np.pi) < np.abs(d), d - 2 * np.pi, d)
    ns = st["exchanges_done"] * cfg["exchange_steps"] * 1e-6
    rep_x = basins_in_x(samples[:, 3], x[:, a], d - mean_diff) if len(x) else None
    rep = {
        "command": COMMAND, "openmm": st["openmm_version"], "pins": PINS,
        "system": "openmmtools AlanineDipeptideImplicit(constraints=None), CPU platform, "
                  "1 thread, LangevinMiddleIntegrator",
        "settings": cfg,
        "chunks_done": st["chunk"],
        "ns_per_replica": ns,
        "ns_total": ns * len(cfg["temperatures_k"]),
        "wall_seconds": st["wall_seconds"],
        "ns_per_hour_total": ns * len(cfg["temperatures_k"]) / (st["wall_seconds"] / 3600.0),
        "exchange_attempts": st["attempts"].tolist(),
        "exchange_accepts": st["accepts"].tolist(),
        "exchange_acceptance": (st["accepts"] / np.maximum(st["attempts"], 1)).tolist(),
        "round_trips_per_replica": st["round_trips"].tolist(),
        "rung_observations": {
            "since_chunk": st["rung_obs_since_chunk"], "rounds": st["rung_obs"],
            "phi_positive_fraction_per_rung": (st["rung_alpha_l"]
                                               / max(st["rung_obs"], 1)).tolist(),
            "alpha_l_entries_per_replica": st["replica_alpha_l_entries"].tolist(),
        },
        "samples": int(len(samples)),
        "sample_interval_ps": cfg["sample_every_exchanges"] * cfg["exchange_steps"] * 1e-3,
        "tau_int_samples": {
            "cos_phi": tau_int(np.cos(samples[:, 3])), "sin_phi": tau_int(np.sin(samples[:, 3])),
            "cos_psi": tau_int(np.cos(samples[:, 4])), "sin_psi": tau_int(np.sin(samples[:, 4])),
            "energy": tau_int(samples[:, 2]),
        },
        "lag1_autocorrelation": {
            k: float(np.corrcoef(v[:-1], v[1:])[0, 1]) if len(v) > 2 else None
            for k, v in (("cos_psi", np.cos(samples[:, 4])), ("sin_psi", np.sin(samples[:, 4])),
                         ("cos_phi", np.cos(samples[:, 3])), ("energy", samples[:, 2]))
        },
        "populations": pops,
        "mbar_all_rungs": mbar_report(st),
        "weights": {
            "log_w": "-U (1/kT_target - 1/kT_md) - 2 ln b1 - ln b2 - ln sin a",
            "kish_ess_fraction": float(w.mean() ** 2 / np.mean(w**2)),
            "log_w_sd": float(lw.std()),
        },
        "cis_peptide_samples": [int(np.sum(np.abs(o) < 90)) for o in omega],
        "chirality_penalised_samples": int(np.sum(np.abs(d - mean_diff) >= thr)),
        "basins_in_x": rep_x,
        "mean_energy_kj": float(samples[:, 2].mean()) if len(samples) else None,
        "files": {
            "reference-cart.csv.gz": "t_ps, replica, energy_kj, phi, psi (rad), log_w, c0..c65 (nm)",
            "reference-x.csv.gz": "x1..x60, the target's sampler space",
            "checkpoint.npz": "state after the last chunk (resume)",
        },
    }
    tmp = out / "reference.json.tmp"
    tmp.write_text(json.dumps(rep, indent=1) + "\n")
    os.replace(tmp, out / "reference.json")
    return rep


def basins_in_x(phi, x_phi, chir_offset):
    """Where the samples sit along φ's raw coordinate, and the chirality test's offset
    (x₁₇ − x₂₆ − mean, wrapped), for φ ≤ 0 and for the αL wells (0 < φ ≤ 120°)."""
    import numpy as np
    wells = (phi > 0) & (phi <= 2 * np.pi / 3)
    rest = phi <= 0

    def spread(v):
        return [float(v.min()), float(v.max())] if len(v) else None

    aw = np.abs(x_phi[wells])
    return {
        "phi_coordinate": "x17 (raw, before any --aldp-scale)",
        "alpha_l_wells_samples": int(wells.sum()),
        "alpha_l_wells_abs_x17": ([float(aw.min()), float(np.median(aw)), float(aw.max())]
                                  if len(aw) else None),
        "alpha_l_wells_x17_positive_negative": [int(np.sum(x_phi[wells] > 0)),
                                                int(np.sum(x_phi[wells] < 0))],
        "phi_nonpositive_abs_x17_p999_max": ([float(np.percentile(np.abs(x_phi[rest]), 99.9)),
                                              float(np.abs(x_phi[rest]).max())]
                                             if rest.any() else None),
        "chirality_offset_range": {"phi_nonpositive": spread(chir_offset[rest]),
                                   "alpha_l_wells": spread(chir_offset[wells])},
    }


def analyse(args):
    out = Path(args.out)
    st = load_state(out / "checkpoint.npz")
    samples = read_samples(out, st["n_samples"])
    write_samples(out, samples, st["settings"]["temperatures_k"][0])
    rep = analyse_into(out, st, samples)
    short = {k: v for k, v in rep.items() if k != "populations"}
    print(json.dumps(short, indent=1))
    for name, p in rep["populations"].items():
        print(f"{name:10s} {p['population']:.4f} ± {p['se_10_blocks']:.4f} (10 blocks), "
              f"± {p['se_20_blocks']:.4f} (20 blocks), naive ± {p['se_naive']:.4f}, "
              f"tau_int {p['tau_int_samples']:.1f} samples, {p['entries']} entries; "
              f"weighted {p['population_weighted']:.4f} ± {p['se_weighted_10_blocks']:.4f}")


def verify(args):
    """x(X_ref) = 0; φ/ψ against mdtraj; x of the stored rows against reference-x.csv.gz."""
    import numpy as np
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        import mdtraj
    xref = read_xref()
    zr = z_from_positions(xref[None])
    assert np.max(np.abs(zr)) < 1e-12, np.max(np.abs(zr))
    print(f"max |z(X_ref)| = {np.max(np.abs(zr)):.1e}")
    out = Path(args.out)
    st = load_state(out / "checkpoint.npz")
    s = read_samples(out, st["n_samples"])
    X = s[:, 5:].reshape(-1, N_ATOMS, 3)
    top = mdtraj.Topology.from_openmm(build_system().topology)
    traj = mdtraj.Trajectory(X, top)
    pi, pv = mdtraj.compute_phi(traj)
    si, sv = mdtraj.compute_psi(traj)
    assert pi.tolist() == [list(PHI_ATOMS)], pi
    assert si.tolist() == [list(PSI_ATOMS)], si
    # mdtraj computes in float32
    dphi = np.max(np.abs(_wrap(pv[:, 0] - s[:, 3])))
    dpsi = np.max(np.abs(_wrap(sv[:, 0] - s[:, 4])))
    print(f"{len(s)} frames: mdtraj phi {pi.tolist()[0]}, psi {si.tolist()[0]}; "
          f"max |Δφ| {dphi:.1e} rad, max |Δψ| {dpsi:.1e} rad")
    assert dphi < 1e-4 and dpsi < 1e-4
    # φ/ψ are the negated raw dihedrals of the 60-vector (z₁₇ and z₄₄ before normalisation)
    q = raw_internal(X)
    assert np.max(np.abs(_wrap(-q[:, 17] - s[:, 3]))) < 1e-8
    assert np.max(np.abs(_wrap(-q[:, 44] - s[:, 4]))) < 1e-8
    with gzip.open(out / "reference-x.csv.gz", "rt") as f:
        f.readline()
        xs = np.loadtxt(f, delimiter=",", ndmin=2)
    with gzip.open(out / "reference-cart.csv.gz", "rt") as f:
        f.readline()
        lw = np.loadtxt(f, delimiter=",", ndmin=2)[:, 5]
    dlw = np.max(np.abs(lw - log_weights(s, st["settings"]["temperatures_k"][0])))
    print(f"log_w column against a recomputation: max |Δ| {dlw:.1e}")
    assert dlw < 1e-6
    dx = np.max(np.abs(xs - x_from_positions(X)))
    print(f"reference-x.csv.gz against x_from_positions of the stored rows: max |Δx| {dx:.1e}")
    assert dx < 1e-6


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=["run", "analyse", "verify"])
    ap.add_argument("--out", default=str(ROOT / "results/aldp"))
    ap.add_argument("--venv", default=str(ROOT / "target/venv-aldp"))
    ap.add_argument("--until", help="run: stop before starting a chunk that would end after "
                    "HH:MM UTC (estimated from the last chunk)")
    ap.add_argument("--ns-per-replica", type=float, help="run: stop at this total length")
    ap.add_argument("--seed", type=int, default=0, help="first run only (then the checkpoint's)")
    ap.add_argument("--replicas", type=int, default=5, help="first run only")
    ap.add_argument("--t-min", type=float, default=300.0, help="first run only (K)")
    ap.add_argument("--t-max", type=float, default=600.0, help="first run only (K)")
    ap.add_argument("--exchange-ps", type=float, default=0.5, help="first run only")
    ap.add_argument("--sample-ps", type=float, default=1.0, help="first run only")
    ap.add_argument("--chunk-ps", type=float, default=50.0, help="first run only")
    ap.add_argument("--burn-in-ps", type=float, default=100.0, help="first run only")
    args = ap.parse_args()
    ensure_venv(Path(args.venv))
    os.environ.setdefault("OPENMM_CPU_THREADS", "1")
    {"run": run, "analyse": analyse, "verify": verify}[args.mode](args)


if __name__ == "__main__":
    main()
