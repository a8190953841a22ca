"""Print a CausalGym acceptance table from a run's results JSON (both selectivity rules).

    python results/runs/causalgym_agreement/make_table.py [RESULTS.json | RUN_FOLDER]

Default: the newest results file of this folder; the 29-task run (causalgym_acceptance_all_tasks)
is read by passing its folder, results/runs/causalgym_all_tasks."""

import glob
import json
import statistics
import sys

arg = sys.argv[1] if len(sys.argv) > 1 else "results/runs/causalgym_agreement"
path = arg if arg.endswith(".json") else sorted(glob.glob(f"{arg}/*/results_*.json"))[-1]
doc = json.load(open(path))
m, det = next(iter(doc["results"].values())), next(iter(doc["details"].values()))
print("| method | log-odds | IIA | selectivity (paper) | selectivity (sign-free) |\n|---|---|---|---|---|")
for meth in det["methods"]:
    row = [m.get(f"{k}_{meth}") for k in ("logodds", "iia", "selectivity", "selectivity_abs")]
    print(f"| {meth} | " + " | ".join("—" if v is None else f"{v:.2f}" for v in row) + " |")
grid = det["grid"]
over = [c for c in grid if c.get("selectivity") is not None and c["logodds"] is not None and c["selectivity"] > c["logodds"]]
print(f"\ncells with paper selectivity > effect: {len(over)} of {sum(1 for c in grid if c.get('selectivity') is not None)}")
das = [c for c in grid if c["method"] == "das" and "train_steps" in c]
if das:
    steps = [c["train_steps"] for c in das]
    print(f"DAS cells: {len(das)}, steps median {statistics.median(steps)}, min {min(steps)}, max {max(steps)}, "
          f"stopped by patience {sum(c['stopped'] == 'patience' for c in das)}, at the cap {sum(c['stopped'] == 'cap' for c in das)}")
leak = det.get("control_leakage", {})
print("control leakage (largest |.|):", sorted(((round(v, 2), t) for t, v in leak.items() if v is not None), key=lambda x: -abs(x[0]))[:8])
print("task accuracy <= 0.6:", det.get("low_accuracy_tasks"))
