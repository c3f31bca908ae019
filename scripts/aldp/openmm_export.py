#!/usr/bin/env python3
"""Export alanine dipeptide (ALDP) from OpenMM: the kernel's parameter tables and a fixture.

    python3 scripts/aldp/openmm_export.py            # writes both files below
    python3 scripts/aldp/openmm_export.py --check    # exits 1 if either committed file differs

The system is `openmmtools.testsystems.AlanineDipeptideImplicit(constraints=None)` (AMBER ff96,
OBC1 generalised Born with the ACE surface term as a CustomGBForce, no cutoff, no constraints),
as FAB and RSMC build it. The script

1. makes its own virtual environment (default `target/venv-aldp`, `--venv DIR`) with the pinned
   `openmm==8.6.1 openmmtools==0.27.0 numpy==2.3.5` from PyPI and re-runs itself there;
2. reads every parameter from the live `System` (bonds, angles, torsions, NonbondedForce
   particles and exceptions, CustomGBForce particles), asserts the counts 21 / 36 / 52 and
   41 one-four pairs / 57 exclusions, asserts that the GB force's expressions are exactly the
   ones the kernel implements, measures the Reference platform's Coulomb constant, and writes
   `kernel/src/targets/aldp/params.rs` (f64 written with `repr`, so every value round-trips);
3. evaluates configurations on the Reference platform (double precision) and writes
   `tests/fixtures/aldp_openmm.json`: per-term energies (bond, angle, torsion, Coulomb and LJ
   split by zeroing charges or epsilons in copies of the NonbondedForce, the GB self, ACE and
   pair terms from one-term copies of the CustomGBForce), total energy, total forces and GB
   forces.

The reference structure X_ref is `scripts/aldp/position_min_energy.csv`: the 1×66 float64
tensor `position_min_energy.pt` of FAB (`experiments/aldp/data/`) and RSMC
(`energies/data/aldp/`), the same git blob f37fed2 in both, written with `repr`.
"""

import argparse
import contextlib
import io
import json
import os
import re
import subprocess
import sys
import venv
from pathlib import Path

PINS = ["openmm==8.6.1", "openmmtools==0.27.0", "numpy==2.3.5"]
ROOT = Path(__file__).resolve().parents[2]
PARAMS_RS = ROOT / "kernel/src/targets/aldp/params.rs"
FIXTURE = ROOT / "tests/fixtures/aldp_openmm.json"
XREF_CSV = ROOT / "scripts/aldp/position_min_energy.csv"
COMMAND = "python3 scripts/aldp/openmm_export.py"

# The CustomGBForce of `openmm/app/internal/customgbforces.py::GBSAOBC1Force` (OpenMM 8.6.1):
# the kernel implements exactly these expressions (kernel/src/targets/aldp/gb.rs).
GB_COMPUTED = [
    ("I", "select(step(r+sr2-or1), 0.5*(1/L-1/U+0.25*(r-sr2^2/r)*(1/(U^2)-1/(L^2))"
          "+0.5*log(L/U)/r), 0);U=r+sr2;L=max(or1, D);D=abs(r-sr2)", 2),
    ("B", "1/(1/or-tanh(0.8*psi+2.909125*psi^3)/radius);psi=I*or; radius=or+offset; "
          "offset=0.009", 0),
]
GB_TAIL = "solventDielectric=78.5; soluteDielectric=1; kappa=0; offset=0.008999999999999999"
GB_ENERGY = [
    ("gb_self", "-0.5*138.935485*(1/soluteDielectric-1/solventDielectric)*charge^2/B; "
                + GB_TAIL, 0),
    ("ace", "28.3919551*(radius+0.14)^2*(radius/B)^6; radius=or+offset; " + GB_TAIL, 0),
    ("gb_pair", "-138.935485*(1/soluteDielectric-1/solventDielectric)*charge1*charge2/f;"
                "f=sqrt(r^2+B1*B2*exp(-r^2/(4*B1*B2))); " + GB_TAIL, 2),
]
# The literals of those expressions, as the kernel's constants (name, value, doc).
GB_CONSTANTS = [
    ("K_GB", "138.935485", "Coulomb constant of the GB expressions (kJ nm mol⁻¹ e⁻²); not K_NB."),
    ("SOLUTE_DIELECTRIC", "1.0", "Solute dielectric."),
    ("SOLVENT_DIELECTRIC", "78.5", "Solvent dielectric."),
    ("OBC_ALPHA", "0.8", "OBC1 α of `tanh(αψ + γψ³)` (β = 0)."),
    ("OBC_GAMMA", "2.909125", "OBC1 γ of `tanh(αψ + γψ³)`."),
    ("GB_OFFSET", "0.009", "Radius offset `ρ = or + offset` (nm), in the Born radius and the "
     "ACE term."),
    ("ACE_TENSION", "28.3919551", "ACE prefactor, 4π × surface tension (kJ mol⁻¹ nm⁻²)."),
    ("ACE_PROBE", "0.14", "ACE solvent probe radius (nm)."),
]
# The energy terms spell the offset 0.008999999999999999: the same double as 0.009.
assert float("0.008999999999999999") == float("0.009")
COUNTS = {"bonds": 21, "angles": 36, "torsions": 52, "pairs14": 41, "exclusions": 57}


def ensure_venv(path: Path) -> None:
    """Re-runs this script inside `path` (created and pip-installed with PINS if needed)."""
    if Path(sys.prefix).resolve() == path.resolve():
        return
    py = path / "bin" / "python"
    marker = path / "amortise-pins.txt"
    if not py.exists():
        print(f"creating {path}", file=sys.stderr)
        venv.create(path, with_pip=True)
    if not marker.exists() or marker.read_text() != "\n".join(PINS):
        subprocess.check_call([str(py), "-m", "pip", "install", "--quiet", *PINS])
        marker.write_text("\n".join(PINS))
    os.execv(str(py), [str(py), str(Path(__file__).resolve()), *sys.argv[1:]])


def r(x: float) -> str:
    """A float as an exactly round-tripping Rust f64 literal."""
    s = repr(float(x))
    assert float(s) == x and "inf" not in s and "nan" not in s, s
    return s if ("." in s or "e" in s) else s + ".0"


def build_system():
    import openmm as mm
    quiet = io.StringIO()  # pymbar prints a banner on import
    with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        from openmmtools import testsystems
    ts = testsystems.AlanineDipeptideImplicit(constraints=None)
    assert ts.system.getNumParticles() == 22 and ts.system.getNumConstraints() == 0
    forces = {type(f).__name__: f for f in ts.system.getForces()}
    assert set(forces) == {"HarmonicBondForce", "HarmonicAngleForce", "PeriodicTorsionForce",
                           "NonbondedForce", "CustomGBForce", "CMMotionRemover"}, forces
    nb = forces["NonbondedForce"]
    assert nb.getNonbondedMethod() == mm.NonbondedForce.NoCutoff
    assert nb.getNumParticleParameterOffsets() == 0 and nb.getNumExceptionParameterOffsets() == 0
    gb = forces["CustomGBForce"]
    assert gb.getNonbondedMethod() == mm.CustomGBForce.NoCutoff and gb.getNumExclusions() == 0
    return ts, forces


def extract(ts, forces):
    """Every parameter of the live System, in plain floats and ints."""
    import openmm.unit as u
    nm, kj, rad, e = u.nanometer, u.kilojoule_per_mole, u.radian, u.elementary_charge
    p = {}
    f = forces["HarmonicBondForce"]
    p["bonds"] = [(a, b, r0.value_in_unit(nm), k.value_in_unit(kj / nm**2))
                  for a, b, r0, k in (f.getBondParameters(i) for i in range(f.getNumBonds()))]
    f = forces["HarmonicAngleForce"]
    p["angles"] = [(a, b, c, t0.value_in_unit(rad), k.value_in_unit(kj / rad**2))
                   for a, b, c, t0, k in
                   (f.getAngleParameters(i) for i in range(f.getNumAngles()))]
    f = forces["PeriodicTorsionForce"]
    p["torsions"] = [(a, b, c, d, n, ph.value_in_unit(rad), k.value_in_unit(kj))
                     for a, b, c, d, n, ph, k in
                     (f.getTorsionParameters(i) for i in range(f.getNumTorsions()))]
    f = forces["NonbondedForce"]
    p["atoms"] = []
    for i in range(f.getNumParticles()):
        q, s, eps = f.getParticleParameters(i)
        p["atoms"].append([q.value_in_unit(e), s.value_in_unit(nm), eps.value_in_unit(kj)])
    p["pairs14"], p["exclusions"] = [], []
    for i in range(f.getNumExceptions()):
        a, b, qq, s, eps = f.getExceptionParameters(i)
        qq, s, eps = qq.value_in_unit(e**2), s.value_in_unit(nm), eps.value_in_unit(kj)
        if qq == 0.0 and eps == 0.0:
            p["exclusions"].append((a, b))
        else:
            p["pairs14"].append((a, b, qq, s, eps))
    gb = forces["CustomGBForce"]
    names = [gb.getPerParticleParameterName(i) for i in range(gb.getNumPerParticleParameters())]
    assert names == ["charge", "or", "sr"], names
    assert gb.getNumGlobalParameters() == 0 and gb.getNumTabulatedFunctions() == 0
    computed = [tuple(gb.getComputedValueParameters(i)) for i in range(gb.getNumComputedValues())]
    assert [(n, x, int(t)) for n, x, t in computed] == GB_COMPUTED, computed
    energy = [tuple(gb.getEnergyTermParameters(i)) for i in range(gb.getNumEnergyTerms())]
    assert [(x, int(t)) for x, t in energy] == [(x, t) for _, x, t in GB_ENERGY], energy
    for i in range(22):
        q, o, s = gb.getParticleParameters(i)
        assert q == p["atoms"][i][0], (i, q)
        p["atoms"][i] += [o, s]
    counts = {k: len(p[k]) for k in COUNTS}
    assert counts == COUNTS, counts
    p["names"] = [a.name for a in ts.topology.atoms()]
    return p


def coulomb_constant() -> float:
    """The Reference platform's 1/(4πε₀): the energy of two unit charges 1 nm apart."""
    import openmm as mm
    s = mm.System()
    s.addParticle(1.0)
    s.addParticle(1.0)
    nb = mm.NonbondedForce()
    nb.setNonbondedMethod(mm.NonbondedForce.NoCutoff)
    nb.addParticle(1.0, 1.0, 0.0)
    nb.addParticle(1.0, 1.0, 0.0)
    s.addForce(nb)
    ctx = mm.Context(s, mm.VerletIntegrator(1e-3), mm.Platform.getPlatformByName("Reference"))
    ctx.setPositions([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    return ctx.getState(getEnergy=True).getPotentialEnergy()._value


def read_xref():
    rows = XREF_CSV.read_text().split("\n")[1:]
    x = [[float(v) for v in row.split(",")[1:]] for row in rows if row]
    assert len(x) == 22
    return x


def wrapped(w, items, width=100):
    """Writes `items` space-separated on indented lines of at most `width` characters."""
    line = "   "
    for item in items:
        if len(line) + 1 + len(item) > width:
            w(line)
            line = "   "
        line += " " + item
    w(line)


def rust_params(p, k_nb, xref) -> str:
    import openmm
    import openmmtools
    a = p["atoms"]
    out = []
    w = out.append
    w("//! Force-field parameters of alanine dipeptide (AMBER ff96 + OBC1 GB/ACE), read from the")
    w("//! live OpenMM `System` of `openmmtools.testsystems.AlanineDipeptideImplicit(constraints=None)`.")
    w("//!")
    w(f"//! GENERATED by `{COMMAND}` (OpenMM {openmm.__version__}, openmmtools")
    w(f"//! {openmmtools.__version__}); do not edit by hand. Floats are Python `repr` and round-trip")
    w("//! exactly. Units: nm, rad, kJ/mol, e. Torsions with k = 0 (20 of the system's 52) are")
    w("//! left out; they contribute exactly zero.")
    w("")
    w("/// A harmonic bond `½k(r − r₀)²`.")
    w("#[derive(Clone, Copy, Debug)]")
    w("pub struct Bond {\n    /// First atom.\n    pub i: u8,\n    /// Second atom.\n    pub j: u8,")
    w("    /// Rest length r₀ (nm).\n    pub r0: f64,\n    /// Force constant k (kJ mol⁻¹ nm⁻²).\n    pub k: f64,\n}")
    w("")
    w("/// A harmonic angle `½k(θ − θ₀)²`, θ at the vertex `j`.")
    w("#[derive(Clone, Copy, Debug)]")
    w("pub struct Angle {\n    /// First atom.\n    pub i: u8,\n    /// Vertex atom.\n    pub j: u8,")
    w("    /// Third atom.\n    pub k: u8,\n    /// Rest angle θ₀ (rad).\n    pub theta0: f64,")
    w("    /// Force constant (kJ mol⁻¹ rad⁻²).\n    pub kf: f64,\n}")
    w("")
    w("/// A periodic torsion `k(1 + cos(nφ − δ))`, φ the IUPAC dihedral i-j-k-l.")
    w("#[derive(Clone, Copy, Debug)]")
    w("pub struct Torsion {\n    /// Atoms i, j, k, l.\n    pub atoms: [u8; 4],\n    /// Periodicity n.")
    w("    pub n: u8,\n    /// Phase δ (rad; 3.141594 is the prmtop's π).\n    pub phase: f64,")
    w("    /// Barrier k (kJ/mol).\n    pub kf: f64,\n}")
    w("")
    w("/// A one-four exception: Coulomb `K_NB·qq/r` and LJ with its own σ and ε.")
    w("#[derive(Clone, Copy, Debug)]")
    w("pub struct Pair14 {\n    /// First atom.\n    pub i: u8,\n    /// Second atom.\n    pub j: u8,")
    w("    /// Charge product, already scaled by 1/1.2 (e²).\n    pub qq: f64,")
    w("    /// LJ σ (nm).\n    pub sigma: f64,\n    /// LJ ε, already scaled by 1/2 (kJ/mol).\n    pub eps: f64,\n}")
    w("")
    w("/// Number of atoms.")
    w("pub const N_ATOMS: usize = 22;")
    w("/// Atom names (PDB order: ACE 0–5, ALA 6–15, NME 16–21).")
    w("pub const NAMES: [&str; N_ATOMS] = [")
    wrapped(w, [f'"{n}",' for n in p["names"]])
    w("];")

    def arr(name, doc, col):
        w(f"/// {doc}")
        w(f"pub const {name}: [f64; N_ATOMS] = [")
        wrapped(w, [f"{r(row[col])}," for row in a])
        w("];")

    arr("CHARGE", "Partial charges (e); the NonbondedForce's and the CustomGBForce's agree.", 0)
    arr("SIGMA", "LJ σ per atom (nm).", 1)
    arr("EPSILON", "LJ ε per atom (kJ/mol).", 2)
    arr("GB_OR", "GB offset radius `or = ρ − 0.009` (nm).", 3)
    arr("GB_SR", "GB scaled offset radius `sr = S·or` (nm).", 4)
    w("/// Harmonic bonds, in the System's order.")
    w(f"pub const BONDS: [Bond; {len(p['bonds'])}] = [")
    for i, j, r0, k in p["bonds"]:
        w(f"    Bond {{ i: {i}, j: {j}, r0: {r(r0)}, k: {r(k)} }},")
    w("];")
    w("/// Harmonic angles, in the System's order.")
    w(f"pub const ANGLES: [Angle; {len(p['angles'])}] = [")
    for i, j, k, t0, kf in p["angles"]:
        w(f"    Angle {{ i: {i}, j: {j}, k: {k}, theta0: {r(t0)}, kf: {r(kf)} }},")
    w("];")
    tors = [t for t in p["torsions"] if t[6] != 0.0]
    w("/// Periodic torsions with k ≠ 0 (proper and improper), in the System's order.")
    w(f"pub const TORSIONS: [Torsion; {len(tors)}] = [")
    for i, j, k, l, n, ph, kf in tors:
        w(f"    Torsion {{ atoms: [{i}, {j}, {k}, {l}], n: {n}, phase: {r(ph)}, kf: {r(kf)} }},")
    w("];")
    w("/// One-four exceptions (scaled Coulomb and LJ), in the System's order.")
    w(f"pub const PAIRS14: [Pair14; {len(p['pairs14'])}] = [")
    for i, j, qq, s, eps in p["pairs14"]:
        w(f"    Pair14 {{ i: {i}, j: {j}, qq: {r(qq)}, sigma: {r(s)}, eps: {r(eps)} }},")
    w("];")
    w("/// Excluded pairs (one-two and one-three; no nonbonded interaction), in the System's order.")
    w(f"pub const EXCLUSIONS: [[u8; 2]; {len(p['exclusions'])}] = [")
    wrapped(w, [f"[{i}, {j}]," for i, j in p["exclusions"]])
    w("];")
    w("/// Coulomb constant 1/(4πε₀) of the Reference platform's NonbondedForce (kJ nm mol⁻¹ e⁻²),")
    w("/// measured as the energy of two unit charges 1 nm apart.")
    w(f"pub const K_NB: f64 = {r(k_nb)};")
    for name, val, doc in GB_CONSTANTS:
        w(f"/// {doc}")
        w(f"pub const {name}: f64 = {r(float(val))};")
    w("/// The reference structure X_ref (nm): FAB/RSMC `position_min_energy.pt`.")
    w("pub const X_REF: [[f64; 3]; N_ATOMS] = [")
    for x in xref:
        w(f"    [{r(x[0])}, {r(x[1])}, {r(x[2])}],")
    w("];")
    return "\n".join(out) + "\n"


def term_contexts(ts, forces):
    """Contexts (all on Reference) whose energy is one term each."""
    import openmm as mm
    plat = mm.Platform.getPlatformByName("Reference")
    sysxml = mm.XmlSerializer.serialize(ts.system)

    def ctx_with(force):
        s = mm.System()
        for i in range(22):
            s.addParticle(ts.system.getParticleMass(i))
        s.addForce(force)
        return mm.Context(s, mm.VerletIntegrator(1e-3), plat)

    def copy(f):
        return mm.XmlSerializer.deserialize(mm.XmlSerializer.serialize(f))

    out = {}
    for key, name in [("bond", "HarmonicBondForce"), ("angle", "HarmonicAngleForce"),
                      ("torsion", "PeriodicTorsionForce"), ("nonbonded", "NonbondedForce"),
                      ("gb", "CustomGBForce")]:
        out[key] = ctx_with(copy(forces[name]))
    for key, keep_q in [("coulomb", True), ("lj", False)]:
        f = copy(forces["NonbondedForce"])
        for i in range(f.getNumParticles()):
            q, s, eps = f.getParticleParameters(i)
            f.setParticleParameters(i, q if keep_q else 0.0, s, 0.0 if keep_q else eps)
        for i in range(f.getNumExceptions()):
            a, b, qq, s, eps = f.getExceptionParameters(i)
            f.setExceptionParameters(i, a, b, qq if keep_q else 0.0, s, 0.0 if keep_q else eps)
        out[key] = ctx_with(f)
    gb = forces["CustomGBForce"]
    for key, expr, kind in GB_ENERGY:
        f = mm.CustomGBForce()
        f.setNonbondedMethod(mm.CustomGBForce.NoCutoff)
        for n in ["charge", "or", "sr"]:
            f.addPerParticleParameter(n)
        for i in range(22):
            f.addParticle(gb.getParticleParameters(i))
        for n, x, t in GB_COMPUTED:
            f.addComputedValue(n, x, t)
        f.addEnergyTerm(expr, kind)
        out[key] = ctx_with(f)
    out["total"] = mm.Context(mm.XmlSerializer.deserialize(sysxml), mm.VerletIntegrator(1e-3), plat)
    return out


def evaluate(ctxs, x):
    import openmm.unit as u
    res = {}
    for key, ctx in ctxs.items():
        ctx.setPositions(x)
        st = ctx.getState(getEnergy=True, getForces=key in ("total", "gb"))
        res[key] = st.getPotentialEnergy().value_in_unit(u.kilojoule_per_mole)
        if key in ("total", "gb"):
            f = st.getForces(asNumpy=True).value_in_unit(u.kilojoule_per_mole / u.nanometer)
            res["forces" if key == "total" else "gb_forces"] = f.tolist()
    return res


def configurations(ts, xref):
    """(name, positions) pairs: X_ref, the inpcrd, Gaussian perturbations, MD, two clashes."""
    import numpy as np
    import openmm as mm
    import openmm.unit as u
    xr = np.array(xref)
    confs = [("x_ref", xr), ("inpcrd", np.array(ts.positions.value_in_unit(u.nanometer)))]
    rng = np.random.default_rng(17)
    for k, sigma in enumerate([0.002, 0.005, 0.01, 0.02, 0.02]):
        confs.append((f"gauss{k}_{sigma}", xr + sigma * rng.standard_normal(xr.shape)))
    integ = mm.LangevinMiddleIntegrator(300 * u.kelvin, 1.0 / u.picosecond, 1.0 * u.femtosecond)
    integ.setRandomNumberSeed(17)
    md = mm.Context(mm.XmlSerializer.deserialize(mm.XmlSerializer.serialize(ts.system)), integ,
                    mm.Platform.getPlatformByName("Reference"))
    md.setPositions(xr)
    md.setVelocitiesToTemperature(300 * u.kelvin, 17)
    done = 0
    for steps in [500, 2000, 5000]:
        integ.step(steps - done)
        done = steps
        pos = md.getState(getPositions=True).getPositions(asNumpy=True)
        confs.append((f"md_{steps}fs", np.array(pos.value_in_unit(u.nanometer))))
    # clash: NME's H1 (atom 19) pushed towards ACE's O (atom 5) until E ≈ 1e7 kJ/mol
    ctx = mm.Context(mm.XmlSerializer.deserialize(mm.XmlSerializer.serialize(ts.system)),
                     mm.VerletIntegrator(1e-3), mm.Platform.getPlatformByName("Reference"))

    def moved(atom, target, dist):
        x = xr.copy()
        d = xr[atom] - xr[target]
        x[atom] = xr[target] + d * (dist / np.linalg.norm(d))
        return x

    def energy(x):
        ctx.setPositions(x)
        return ctx.getState(getEnergy=True).getPotentialEnergy()._value

    lo, hi = 0.01, 0.3
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if energy(moved(19, 5, mid)) > 1e7 else (lo, mid)
    confs.append(("clash_1e7", moved(19, 5, round(hi, 6))))
    # a harder clash: CB (atom 10) 0.03 nm from ACE's carbonyl C (atom 4); GB's step() cuts
    # some pairs (r + sr_j < or_i)
    confs.append(("clash_hard", moved(10, 4, 0.03)))
    return confs


def fixture_text(ctxs, confs) -> str:
    import openmm
    import openmmtools
    keys = ["bond", "angle", "torsion", "coulomb", "lj", "nonbonded", "gb_self", "ace", "gb_pair",
            "gb", "total"]
    lines = ["{",
             f' "generator": "{COMMAND}",',
             f' "openmm": "{openmm.__version__}", "openmmtools": "{openmmtools.__version__}",',
             ' "system": "AlanineDipeptideImplicit(constraints=None), Reference platform",',
             ' "units": {"positions": "nm", "energy": "kJ/mol", "forces": "kJ/mol/nm"},',
             ' "configurations": [']
    for c, (name, x) in enumerate(confs):
        res = evaluate(ctxs, x)
        nb = res["coulomb"] + res["lj"]
        assert abs(nb - res["nonbonded"]) <= 1e-11 * max(1.0, abs(res["nonbonded"])), (name, nb)
        gb = res["gb_self"] + res["ace"] + res["gb_pair"]
        assert abs(gb - res["gb"]) <= 1e-11 * max(1.0, abs(res["gb"])), (name, gb)

        def rows(m):
            return ",\n".join("   [" + ", ".join(repr(float(v)) for v in row) + "]" for row in m)

        lines.append("  {")
        lines.append(f'   "name": "{name}",')
        lines.append('   "energy": {' + ", ".join(f'"{k}": {repr(float(res[k]))}' for k in keys)
                     + "},")
        for key, m in [("positions", x.tolist()), ("forces", res["forces"]),
                       ("gb_forces", res["gb_forces"])]:
            lines.append(f'   "{key}": [')
            lines.append(rows(m))
            lines.append("   ]" + ("," if key != "gb_forces" else ""))
        lines.append("  }" + ("," if c + 1 < len(confs) else ""))
        print(f"{name:12s} E = {res['total']:.9g} kJ/mol", file=sys.stderr)
    lines += [" ]", "}"]
    text = "\n".join(lines) + "\n"
    json.loads(text)
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--venv", type=Path, default=ROOT / "target/venv-aldp",
                    help="virtual environment to create and use (default target/venv-aldp)")
    ap.add_argument("--check", action="store_true",
                    help="compare with the committed files instead of writing them")
    args = ap.parse_args()
    ensure_venv(args.venv)
    ts, forces = build_system()
    p = extract(ts, forces)
    xref = read_xref()
    k_nb = coulomb_constant()
    params = rust_params(p, k_nb, xref)
    fixture = fixture_text(term_contexts(ts, forces), configurations(ts, xref))
    if args.check:
        bad = [str(f) for f, t in [(PARAMS_RS, params), (FIXTURE, fixture)]
               if not f.exists() or f.read_text() != t]
        if bad:
            print("differs from a fresh export: " + ", ".join(bad), file=sys.stderr)
            sys.exit(1)
        print("params.rs and the fixture match a fresh export", file=sys.stderr)
        return
    PARAMS_RS.parent.mkdir(parents=True, exist_ok=True)
    PARAMS_RS.write_text(params)
    FIXTURE.write_text(fixture)
    print(f"wrote {PARAMS_RS.relative_to(ROOT)} and {FIXTURE.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
