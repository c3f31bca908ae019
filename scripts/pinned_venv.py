"""The virtual environment of a verification or data script: pinned packages from PyPI.

    from pinned_venv import ensure_venv
    python = ensure_venv("target/some-venv", ["numpy==2.4.6", ...])

Creates the venv unless it exists, installs the pins unless its stamp file says they are
there, and returns its python. Only the standard library is needed to call it.
"""
import os
import subprocess
import sys


def ensure_venv(venv, pins):
    """Creates `venv` with `pins` unless it already has them; returns its python."""
    py = os.path.join(venv, "bin", "python")
    stamp = os.path.join(venv, "amortise-pins.txt")
    want = "\n".join(pins) + "\n"
    if os.path.exists(stamp) and open(stamp).read() == want:
        return py
    if not os.path.exists(py):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    subprocess.run([py, "-m", "pip", "install", "--quiet", *pins], check=True)
    with open(stamp, "w") as f:
        f.write(want)
    return py
