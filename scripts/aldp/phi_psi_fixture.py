#!/usr/bin/env python3
"""φ/ψ of the ALDP test configurations, computed by mdtraj: the fixture the kernel's dihedrals
are checked against.

    python3 scripts/aldp/phi_psi_fixture.py            # writes tests/fixtures/aldp_phi_psi.json
    python3 scripts/aldp/phi_psi_fixture.py --check    # exits 1 if the committed file differs

Like `openmm_export.py`, the script makes its own virtual environment (default
`target/venv-aldp-mdtraj`, `--venv DIR`) with the pinned `mdtraj==1.11.1.post2 numpy==2.3.5`
from PyPI and re-runs itself there. It reads the configurations of
`tests/fixtures/aldp_openmm.json` (positions in nm) and the topology of `tests/fixtures/aldp.pdb`
(RSMC's `energies/data/aldp/aldp.pdb`, atom order as the kernel's), and writes, per
configuration, mdtraj's `compute_phi` and `compute_psi` (radians; mdtraj stores positions in
float32 and computes in float32) and, for the record, the same dihedrals in float64 with
numpy. It asserts that mdtraj picks the atoms 4-6-8-14 for φ and 6-8-14-16 for ψ (0-based),
the kernel's `PHI_ATOMS` / `PSI_ATOMS`. The coordinates of `aldp.pdb` itself (Å, converted to
nm) are one more configuration, `aldp_pdb`.

It also writes `kl_example`: two seeded sets of (φ, ψ) pairs (a "reference" of 400 and a
"model" of 300, von Mises clusters around β, αR and αL with different weights) and the KL
divergences FAB's `fab/utils/aldp.py::evaluate_aldp` reports for them, evaluated here with
its formulas: `numpy.histogram(..., 200, range=[-π, π], density=True)` for φ and ψ,
`numpy.histogram2d(φ, ψ, 64, range=[[-π, π], [-π, π]], density=True)` for the Ramachandran
plane, and `Σ p ln((p + ε)/(q + ε)) · cell` with ε = 1e-10 and `p` the reference.
"""

import argparse
import json
import os
import subprocess
import sys
import venv
from pathlib import Path

PINS = ["mdtraj==1.11.1.post2", "numpy==2.3.5"]
ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "tests/fixtures/aldp_openmm.json"
PDB = ROOT / "tests/fixtures/aldp.pdb"
FIXTURE = ROOT / "tests/fixtures/aldp_phi_psi.json"
PHI_ATOMS = [4, 6, 8, 14]
PSI_ATOMS = [6, 8, 14, 16]


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


def dihedral64(x, atoms):
    """The IUPAC dihedral in float64 (mdtraj's formula)."""
    import numpy as np
    p = np.asarray([x[i] for i in atoms], dtype=np.float64)
    b1, b2, b3 = p[1] - p[0], p[2] - p[1], p[3] - p[2]
    c1, c2 = np.cross(b2, b3), np.cross(b1, b2)
    return float(np.arctan2(np.dot(b1, c1) * np.linalg.norm(b2), np.dot(c1, c2)))


def kl_example():
    """Seeded angle sets and FAB's three KL divergences between them."""
    import numpy as np
    rng = np.random.default_rng(20251)

    def draw(n, weights):
        centres = np.radians([[-150.0, 150.0], [-75.0, -40.0], [60.0, 40.0]])
        k = rng.choice(3, size=n, p=weights)
        ang = rng.vonmises(centres[k], 4.0)
        return np.angle(np.exp(1j * ang))  # wrapped to (-π, π]

    ref = draw(400, [0.6, 0.3, 0.1])
    model = draw(300, [0.3, 0.6, 0.1])
    eps, nb, nr = 1e-10, 200, 64
    rng_1d = [-np.pi, np.pi]

    def kl_1d(a, b):
        p, _ = np.histogram(a, nb, range=rng_1d, density=True)
        q, _ = np.histogram(b, nb, range=rng_1d, density=True)
        return float(np.sum(p * np.log((p + eps) / (q + eps))) * 2 * np.pi / nb)

    p2 = np.histogram2d(ref[:, 0], ref[:, 1], nr, range=[rng_1d, rng_1d], density=True)[0]
    q2 = np.histogram2d(model[:, 0], model[:, 1], nr, range=[rng_1d, rng_1d], density=True)[0]
    kl_ram = float(np.sum(p2 * np.log((p2 + eps) / (q2 + eps))) * (2 * np.pi / nr) ** 2)
    return {
        "reference": ref.tolist(),
        "model": model.tolist(),
        "kl_phi": kl_1d(ref[:, 0], model[:, 0]),
        "kl_psi": kl_1d(ref[:, 1], model[:, 1]),
        "kl_ramachandran": kl_ram,
    }


def fixture_text() -> str:
    import mdtraj
    import numpy as np
    top = mdtraj.load_pdb(str(PDB)).topology
    confs = json.loads(CONFIGS.read_text())["configurations"]
    names = [c["name"] for c in confs] + ["aldp_pdb"]
    xyz = [np.asarray(c["positions"], dtype=np.float64) for c in confs]
    xyz.append(mdtraj.load_pdb(str(PDB)).xyz[0].astype(np.float64))
    traj = mdtraj.Trajectory(np.stack(xyz), top)
    phi_idx, phi = mdtraj.compute_phi(traj)
    psi_idx, psi = mdtraj.compute_psi(traj)
    assert phi_idx.tolist() == [PHI_ATOMS], phi_idx
    assert psi_idx.tolist() == [PSI_ATOMS], psi_idx
    rows = []
    for k, name in enumerate(names):
        rows.append({
            "name": name,
            "positions": xyz[k].tolist(),
            "phi_mdtraj": float(phi[k, 0]),
            "psi_mdtraj": float(psi[k, 0]),
            "phi_f64": dihedral64(xyz[k], PHI_ATOMS),
            "psi_f64": dihedral64(xyz[k], PSI_ATOMS),
        })
    out = {
        "generator": "python3 scripts/aldp/phi_psi_fixture.py",
        "mdtraj": mdtraj.__version__,
        "units": "positions nm, angles rad",
        "phi_atoms": PHI_ATOMS,
        "psi_atoms": PSI_ATOMS,
        "configurations": rows,
        "kl_example": kl_example(),
    }
    return json.dumps(out, indent=1) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--venv", type=Path, default=ROOT / "target/venv-aldp-mdtraj",
                    help="virtual environment to create and use (default target/venv-aldp-mdtraj)")
    ap.add_argument("--check", action="store_true",
                    help="compare with the committed file instead of writing it")
    args = ap.parse_args()
    ensure_venv(args.venv)
    text = fixture_text()
    if args.check:
        if not FIXTURE.exists() or FIXTURE.read_text() != text:
            print(f"{FIXTURE.relative_to(ROOT)} differs from a fresh run", file=sys.stderr)
            sys.exit(1)
        print(f"{FIXTURE.relative_to(ROOT)} matches a fresh run", file=sys.stderr)
        return
    FIXTURE.write_text(text)
    print(f"wrote {FIXTURE.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
