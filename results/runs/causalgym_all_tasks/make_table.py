"""Print the 29-task CausalGym acceptance tables from a run's results JSON.

    python results/runs/causalgym_all_tasks/make_table.py [RESULTS.json | RUN_FOLDER]

Default: the newest results file under results/runs/causalgym_all_tasks. Prints the method
summary (both selectivity rules), then one row per task: the model's accuracy on the task and
each method's log-odds effect (the paper's aggregation: the best position at each site,
averaged over sites; this run has one site), DAS's
training steps and the task's control leakage."""

import glob
import json
import statistics
import sys
from collections import defaultdict

arg = sys.argv[1] if len(sys.argv) > 1 else "results/runs/causalgym_all_tasks"
path = arg if arg.endswith(".json") else sorted(glob.glob(f"{arg}/*/results_*.json"))[-1]
doc = json.load(open(path))
name = next(iter(doc["results"]))
m, det = doc["results"][name], doc["details"][name]
methods = det["methods"]
print(f"{path}: {doc['tasks'][name]['n_samples']} cells, {doc['tasks'][name]['wall_seconds']:.0f} s wall\n")
print("| method | log-odds | IIA | selectivity (paper) | selectivity (sign-free) |\n|---|---|---|---|---|")
for meth in methods:
    row = [m.get(f"{k}_{meth}") for k in ("logodds", "iia", "selectivity", "selectivity_abs")]
    print(f"| {meth} | " + " | ".join("—" if v is None else f"{v:.2f}" for v in row) + " |")

grid = det["grid"]
tasks = list(dict.fromkeys(c["task"] for c in grid))
print("\n| task | model acc. | " + " | ".join(methods) + " | DAS steps | control leakage |")
print("|---|---|" + "---|" * len(methods) + "---|---|")
for t in tasks:
    acc = det["task_accuracy"].get(t)
    vals = [det["by_task"]["logodds"].get(t, {}).get(meth) for meth in methods]
    best = max((v for v in vals if v is not None), default=None)
    shown = [("—" if v is None else (f"**{v:.2f}**" if v == best else f"{v:.2f}")) for v in vals]
    steps = [c["train_steps"] for c in grid if c["task"] == t and c["method"] == "das" and "train_steps" in c]
    leak = det["control_leakage"].get(t)
    print(f"| {t} | {'—' if acc is None else f'{acc:.2f}'} | " + " | ".join(shown)
          + f" | {format(statistics.median(steps), 'g') if steps else '—'} | {'—' if leak is None else f'{leak:.2f}'} |")

wins = defaultdict(int)
for t in tasks:
    vals = {meth: v for meth, v in det["by_task"]["logodds"].get(t, {}).items()}
    if vals:
        wins[max(vals, key=vals.get)] += 1
print("\nbest method per task (log-odds):", dict(sorted(wins.items(), key=lambda kv: -kv[1])))
over = [c for c in grid if c.get("selectivity") is not None and c["logodds"] is not None and c["selectivity"] > c["logodds"]]
print(f"cells with paper selectivity > effect: {len(over)} of {sum(1 for c in grid if c.get('selectivity') is not None)}")
das = [c for c in grid if c["method"] == "das" and "train_steps" in c]
if das:
    steps = [c["train_steps"] for c in das]
    print(f"DAS fits: {len(das)}, steps median {statistics.median(steps)}, min {min(steps)}, max {max(steps)}, "
          f"stopped by patience {sum(c['stopped'] == 'patience' for c in das)}, at the cap {sum(c['stopped'] == 'cap' for c in das)}")
print("task accuracy <= 0.6:", det.get("low_accuracy_tasks"))
print("skipped cells:", det.get("skipped_cells"))
