#!/usr/bin/env python3
"""This project against the PyTorch CPU reference, measured in one session on one machine.

Runs, in alternation for several rounds, the reference's own scripts
(`../shared/reference/pytorch-tb/bench_macro.py` and `bench_micro.py`, one thread) and
`amortise bench tb|eval|step --json` (one thread; and the batch-2000 iteration with one and
two threads), then prints the median of each number over the rounds and the ratios the
performance issue asks for. Alternating the two keeps slow drifts of the machine's load out
of the ratios; `uptime` is printed before every round so a reader can see the load.

    python3 benches/vs_reference.py --ref-dir ../shared/reference/pytorch-tb \
        --amortise target/release/amortise --rounds 3 [--paper-shape] [--json out.json] \
        [--venv DIR | --python PY]

`--paper-shape` adds the RSMC paper's shape (width 256, batch 2000, T = 64: `bench_macro.py
--hidden 256 --batch 2000 --T 64` against `amortise bench tb|eval --hidden 256 --batch 2000
--steps 64`). The reference needs torch: the script creates a venv (`--venv`, default
`target/torch-venv`) with the pinned versions below from PyPI (about 5 GB), or uses a Python
given with `--python`. Only the standard library is needed outside it.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from pinned_venv import ensure_venv  # noqa: E402

PINS = ["torch==2.15.0", "numpy==2.4.6"]
DEFAULT_VENV = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "torch-venv")


def run(cmd, **kw):
    out = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if out.returncode != 0:
        sys.exit(f"command failed ({out.returncode}): {' '.join(cmd)}\n{out.stderr[-2000:]}")
    return out.stdout


def reference_lines(text):
    """`name value unit` lines of the reference scripts -> {name: value}."""
    vals = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            try:
                vals[parts[0]] = float(parts[1])
            except ValueError:
                pass
    return vals


def ours(exe, *args):
    text = run([exe, "bench", *args, "--json"])
    return json.loads(text.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", help="a Python with torch installed (instead of --venv)")
    ap.add_argument("--venv", default=DEFAULT_VENV, help="virtual environment to create/use")
    ap.add_argument("--paper-shape", action="store_true",
                    help="also width 256, batch 2000, T 64 (the RSMC paper's shape)")
    ap.add_argument("--ref-dir", required=True, help="the pytorch-tb reference folder")
    ap.add_argument("--amortise", required=True, help="the amortise binary to measure")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", help="also write the medians and ratios here")
    a = ap.parse_args()
    if a.rounds < 1:
        sys.exit("--rounds: must be at least 1")
    if a.python is None:
        a.python = ensure_venv(os.path.abspath(a.venv), PINS)

    rows = {}

    def add(name, value):
        rows.setdefault(name, []).append(value)

    for r in range(a.rounds):
        print(f"round {r + 1}/{a.rounds}: {run(['uptime']).strip()}", flush=True)
        m = reference_lines(run([a.python, "bench_macro.py", "--threads", "1", "--arch", "pis",
                                 "--batch", "300", "--T", "100"], cwd=a.ref_dir))
        add("ref_tb_it_per_s", m["macro_pis_b300_T100_t1_train_rate_median"])
        add("ref_eval_ms", m["macro_pis_b300_T100_t1_eval2000_time_median"])
        u = reference_lines(run([a.python, "bench_micro.py", "--threads", "1", "--arch", "pis",
                                 "--batch", "300"], cwd=a.ref_dir))
        add("ref_step_per_s", u["micro_pis_b300_t1_step_rate_median"])
        t = ours(a.amortise, "tb")
        add("our_tb_it_per_s", t["rate"])
        add("our_tb_it_per_cpu_s", t["rate_per_cpu_second"])
        e = ours(a.amortise, "eval")
        add("our_eval_ms", 1e3 / e["rate"])
        add("our_eval_cpu_ms", 1e3 * e["cpu_seconds_per_call"])
        s = ours(a.amortise, "step")
        add("our_step_per_s", s["rate"])
        one = ours(a.amortise, "tb", "--batch", "2000")
        two = ours(a.amortise, "tb", "--batch", "2000", "--threads", "2", "--grad-chunks", "2")
        add("our_tb2000_1thread_it_per_s", one["rate"])
        add("our_tb2000_2threads_it_per_s", two["rate"])
        if a.paper_shape:
            m = reference_lines(run([a.python, "bench_macro.py", "--threads", "1", "--arch", "pis",
                                     "--hidden", "256", "--batch", "2000", "--T", "64"],
                                    cwd=a.ref_dir))
            add("ref_paper_tb_s_per_it", 1 / m["macro_pis_b2000_T64_t1_train_rate_median"])
            add("ref_paper_eval_ms", m["macro_pis_b2000_T64_t1_eval2000_time_median"])
            shape = ["--hidden", "256", "--steps", "64"]
            pt = ours(a.amortise, "tb", "--batch", "2000", *shape)
            add("our_paper_tb_s_per_it", 1 / pt["rate"])
            add("our_paper_tb_fraction_of_peak", pt["fraction_of_peak"])
            pe = ours(a.amortise, "eval", *shape)
            add("our_paper_eval_ms", 1e3 / pe["rate"])
            print(f"  paper shape: ref tb {rows['ref_paper_tb_s_per_it'][-1]:.3f} s/it, ours "
                  f"{rows['our_paper_tb_s_per_it'][-1]:.3f} s/it; ref eval "
                  f"{rows['ref_paper_eval_ms'][-1]:.0f} ms, ours {rows['our_paper_eval_ms'][-1]:.0f} ms",
                  flush=True)
        add("our_tb_fraction_of_peak", t["fraction_of_peak"])
        add("peak_gflops", t["peak_gflops"])
        simd = t.get("simd")
        print(f"  ref tb {rows['ref_tb_it_per_s'][-1]:.2f} it/s, ours {t['rate']:.2f} it/s ({simd});"
              f" ref eval {rows['ref_eval_ms'][-1]:.1f} ms, ours {rows['our_eval_ms'][-1]:.1f} ms;"
              f" ref step {rows['ref_step_per_s'][-1]:.0f}/s, ours {s['rate']:.0f}/s;"
              f" B2000 1/2 threads {one['rate']:.2f}/{two['rate']:.2f} it/s", flush=True)

    med = {k: statistics.median(v) for k, v in rows.items()}
    ratios = {
        "tb_vs_reference": med["our_tb_it_per_s"] / med["ref_tb_it_per_s"],
        "eval_vs_reference": med["ref_eval_ms"] / med["our_eval_ms"],
        "step_vs_reference": med["our_step_per_s"] / med["ref_step_per_s"],
        "two_threads_vs_one_b2000": med["our_tb2000_2threads_it_per_s"]
        / med["our_tb2000_1thread_it_per_s"],
    }
    if a.paper_shape:
        ratios["paper_tb_vs_reference"] = med["ref_paper_tb_s_per_it"] / med["our_paper_tb_s_per_it"]
        ratios["paper_eval_vs_reference"] = med["ref_paper_eval_ms"] / med["our_paper_eval_ms"]
    print("medians over rounds:")
    for k, v in med.items():
        print(f"  {k} {v:.4g}")
    print("ratios (targets: tb >= 5, eval >= 2.5, two threads >= 1.7; tb >= 45 % of peak):")
    for k, v in ratios.items():
        print(f"  {k} {v:.2f}x")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"rounds": rows, "medians": med, "ratios": ratios}, f, indent=1)


if __name__ == "__main__":
    main()
