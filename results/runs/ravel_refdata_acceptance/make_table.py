"""Print the acceptance tables (strict and paper side by side) from the run's results JSON."""

import glob
import json
import math
import sys

path = sys.argv[1] if len(sys.argv) > 1 else sorted(glob.glob("results/runs/ravel_refdata_acceptance/*/results_*.json"))[-1]
doc = json.load(open(path))
det = next(iter(doc["details"].values()))


def f(v):
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.2f}"


for t in sorted(next(iter(det["per_type"].values()))):
    print(f"\n{t}: method | strict C / I / D | paper C / I / D | SAEBench strict / paper")
    print("|---|---|---|---|")
    for m, types in det["per_type"].items():
        v = types.get(t, {})
        s = " / ".join(f(v.get(k)) for k in ("cause", "isolate", "disentangle"))
        p = " / ".join(f(v.get(f"paper/{k}")) for k in ("cause", "isolate", "disentangle"))
        print(f"| {m} | {s} | {p} | {f(v.get('saebench'))} / {f(v.get('paper/saebench'))} |")
print("\nempty (attribute/split):", det.get("empty"))
print("known rate:", {t: {a: round(r, 2) for a, r in i["known_rate"].items()} for t, i in det["instances"].items()})
print("counts:", {t: i["counts"] for t, i in det["instances"].items()})
