"""Rebuild the all-layers CausalGym tables of plugins/causalgym/README.md from the per-cell
sample logs in this folder (paper aggregation: max over positions, mean over sites, mean over
tasks). Run from the repository root: python results/runs/causalgym_acceptance/make_table.py"""

import json
import statistics
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent / "smollm2-135m"
METHODS = ("das", "probe", "mean", "pca", "kmeans", "lda", "random")


def cells(task_prefix: str) -> list[dict]:
    out = []
    for f in sorted(HERE.glob(f"samples_{task_prefix}_*.jsonl")):
        out += [json.loads(line)["values"] for line in f.read_text().splitlines() if line.strip()]
    return out


def site_scores(rows: list[dict], key: str = "logodds") -> dict[tuple[str, str], dict[int, float]]:
    """(task, method) -> site -> max over positions of the cell's mean over eval pairs."""
    best: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    for r in rows:
        if r.get(key) is None:
            continue
        k = (r["task"], r["method"])
        best[k][r["site"]] = max(best[k].get(r["site"], float("-inf")), r[key])
    return best


def summary(best, tasks, sites, key_methods=METHODS):
    table = {}
    for m in key_methods:
        per_task = []
        for t in tasks:
            vals = [best[(t, m)][s] for s in sites if s in best.get((t, m), {})]
            if len(vals) != len(sites):
                break
            per_task.append(statistics.mean(vals))
        else:
            sd = statistics.stdev(per_task) / len(per_task) ** 0.5 if len(per_task) > 1 else 0.0
            table[m] = (statistics.mean(per_task), sd, per_task)
    return table


def show(title, table, tasks):
    print(f"\n{title}\n| method | log-odds | " + " | ".join(tasks) + " |\n|---|---|" + "---|" * len(tasks))
    for m, (mu, se, per) in sorted(table.items(), key=lambda kv: -kv[1][0]):
        print(f"| {m} | {mu:.2f} ± {se:.2f} | " + " | ".join(f"{v:.2f}" for v in per) + " |")


rows = cells("causalgym_acceptance_all_layers")
das_extra = cells("causalgym_acceptance_das_sites")  # DAS at the other 25 sites (files b, agr, npi1, npi2)
best = site_scores(rows + das_extra)
iia = site_scores(rows + das_extra, "iia")
tasks = ["agr_gender", "npi_ever_subj-relc", "garden_npz_obj", "gss_subord", "filler_gap_obj"]
all_sites = list(range(1, 31))
five = [2, 8, 14, 20, 26]
show("All 30 sites, five tasks, seven methods", summary(best, tasks, all_sites), tasks)
show("The 5 sites where every method ran, five tasks", summary(best, tasks, five), tasks)
print("\nIIA, all 30 sites, five tasks:", {m: round(v[0], 2) for m, v in summary(iia, tasks, all_sites).items()})
print("\nPer-site log-odds (max over positions, mean over the five tasks):")
for m in METHODS:
    line = []
    for s in all_sites:
        vals = [best[(t, m)][s] for t in tasks if s in best.get((t, m), {})]
        line.append(f"{statistics.mean(vals):.1f}" if len(vals) == len(tasks) else "·")
    print(f"{m:>7}: " + " ".join(line))
