"""Table of the "Adaptive teacher, continuous (25GMM)" section of docs/results.md from the run folders.

Usage: python3 scripts/teacher_25gmm_table.py results/teacher-25gmm
Modes: a 25GMM centre counts as covered when it is the nearest centre of at least 10 % of
its fair share n/25 of samples.csv (the rule of the teacher's `modes_covered`, recomputed
here for every method and checked against the teacher's summary).
"""
import csv, glob, json, statistics as st, sys

root = sys.argv[1]
cent = [(x, y) for x in (-10, -5, 0, 5, 10) for y in (-10, -5, 0, 5, 10)]


def modes(path):
    rows = [tuple(map(float, r)) for r in csv.reader(open(path)) if r and r[0] != "x1"]
    c = [0] * 25
    for p in rows:
        j = min(range(25), key=lambda k: (p[0] - cent[k][0]) ** 2 + (p[1] - cent[k][1]) ** 2)
        c[j] += 1
    return sum(1 for v in c if v >= max(1, 0.1 * len(rows) / 25))


res = {}
for f in sorted(glob.glob(root + "/*/25gmm-*/summary.json")):
    s = json.load(open(f))
    mc = modes(f.replace("summary.json", "samples.csv"))
    if "modes_covered" in s:
        assert mc == s["modes_covered"], (f, mc, s["modes_covered"])
    res.setdefault((s["method"], s["iters"]), []).append(
        dict(elbo=s["elbo"], eubo=s["eubo"], logz=s["log_z_estimate"], sink=s["sinkhorn"],
             mmd=s["mmd"], emc=s["emc"], modes=mc, sec=s["seconds"]))


def ms(v):
    return f"{st.mean(v):.2f} ± {st.pstdev(v):.2f}"


print("| method | iterations | ELBO | EUBO | log Ẑ (true 0) | Sinkhorn | MMD | EMC | modes (of 25) | train s/run |")
print("|---|---|---|---|---|---|---|---|---|---|")
for key in sorted(res, key=lambda k: (k[1], ["tb", "tb-buffer", "teacher"].index(k[0]))):
    r = res[key]
    cells = " | ".join(ms([x[k] for x in r]) for k in ["elbo", "eubo", "logz", "sink", "mmd", "emc", "modes"])
    print(f"| {key[0]} | {key[1]} | {cells} | {st.mean([x['sec'] for x in r]):.0f} |")
