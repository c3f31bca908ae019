#!/usr/bin/env python3
"""This project against the PyTorch CPU reference, measured in one session on one machine.

Runs, in alternation for several rounds, the reference's own scripts
(`../shared/reference/pytorch-tb/bench_macro.py` and `bench_micro.py`, one thread) and
`amortise bench tb|eval|step --json` (one thread; and the batch-2000 iteration with one and
two threads), then prints the median of each number over the rounds and the ratios the
performance issue asks for. Alternating the two keeps slow drifts of the machine's load out
of the ratios; `uptime` is printed before every round so a reader can see the load.

    python3 benches/vs_reference.py --python /path/to/venv/bin/python \
        --ref-dir ../shared/reference/pytorch-tb --amortise target/release/amortise \
        --rounds 3 [--json out.json]

Only the standard library is needed here; the reference needs torch in the given Python.
"""
import argparse
import json
import statistics
import subprocess
import sys


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
    ap.add_argument("--python", required=True, help="a Python with torch installed")
    ap.add_argument("--ref-dir", required=True, help="the pytorch-tb reference folder")
    ap.add_argument("--amortise", required=True, help="the amortise binary to measure")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", help="also write the medians and ratios here")
    a = ap.parse_args()
    if a.rounds < 1:
        sys.exit("--rounds: must be at least 1")

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
    print("medians over rounds:")
    for k, v in med.items():
        print(f"  {k} {v:.4g}")
    print("ratios (targets: tb >= 10, eval >= 10, two threads >= 1.7):")
    for k, v in ratios.items():
        print(f"  {k} {v:.2f}x")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"rounds": rows, "medians": med, "ratios": ratios}, f, indent=1)


if __name__ == "__main__":
    main()
