"""Two runs side by side: metrics, paired differences over matching samples, disagreements,
and every configuration field on which the runs differ.

Samples pair by ``sample_id`` within a task both runs ran. For each numeric per-sample value
the paired difference ``d = b - a`` has mean ``mean(d)`` and standard error
``sd(d) / sqrt(n)`` (``sd`` with ``n - 1``); pairing removes the between-sample variance that
two independent standard errors would count twice. A disagreement is a sample whose 0/1
value (correct/incorrect) differs between the runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from harness.viewer.catalog import Run, TaskEntry
from harness.viewer.provenance import task_digest
from harness.viewer.samples import SampleStore, scalar_values

MAX_DISAGREEMENTS = 200


@dataclass
class Paired:
    metric: str
    n: int
    mean_a: float
    mean_b: float
    diff: float
    stderr: float | None

    def to_json(self) -> dict[str, Any]:
        return {"metric": self.metric, "n": self.n, "mean_a": self.mean_a, "mean_b": self.mean_b,
                "diff": self.diff, "stderr": self.stderr}


def config_differences(a: Run, b: Run) -> list[dict[str, Any]]:
    """Fields of the effective configuration that differ (unknown on one side counts as a difference)."""
    diffs = []
    fields = list(dict.fromkeys([*a.provenance.compared, *b.provenance.compared]))
    for name in fields:
        va, vb = a.provenance.compared.get(name), b.provenance.compared.get(name)
        if va != vb:
            diffs.append({"field": name, "a": va, "b": vb})
    for task in _shared_tasks(a, b):
        ta, tb = a.task(task), b.task(task)
        da, db = task_digest(ta.args), task_digest(tb.args)  # type: ignore[union-attr]
        if da != db:
            diffs.append({"field": f"task config digest ({task})", "a": da, "b": db})
    return diffs


def _shared_tasks(a: Run, b: Run) -> list[str]:
    names_b = {t.name for t in b.tasks}
    return [t.name for t in a.tasks if t.name in names_b]


def _values_by_id(store: SampleStore, task: TaskEntry) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    if task.samples_path is None:
        return out
    index = store.index(task.samples_path)
    for page in range(len(index.pages)):
        for _, rec, _problem in index.read_page(page):
            if rec is not None and not rec.get("error") and "sample_id" in rec:
                out[str(rec["sample_id"])] = scalar_values(rec)
    return out


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)) and math.isfinite(v):
        return float(v)
    return None


def paired_differences(va: dict[str, dict[str, Any]], vb: dict[str, dict[str, Any]]) -> tuple[list[Paired], list[dict[str, Any]], int]:
    """Paired statistics per metric, the disagreements (capped) and their total count."""
    shared = [sid for sid in va if sid in vb]
    metrics: list[str] = list(dict.fromkeys(k for sid in shared for k in va[sid] if k in vb[sid]))
    paired, binary = [], []
    for metric in metrics:
        pairs: list[tuple[float, float]] = []
        for s in shared:
            x, y = _number(va[s].get(metric)), _number(vb[s].get(metric))
            if x is not None and y is not None:
                pairs.append((x, y))
        if not pairs:
            continue
        n = len(pairs)
        d = [y - x for x, y in pairs]
        mean = math.fsum(d) / n
        se = math.sqrt(math.fsum((x - mean) ** 2 for x in d) / (n - 1) / n) if n > 1 else None
        paired.append(Paired(metric, n, math.fsum(x for x, _ in pairs) / n, math.fsum(y for _, y in pairs) / n, mean, se))
        if all(x in (0.0, 1.0) and y in (0.0, 1.0) for x, y in pairs):
            binary.append(metric)
    disagreements: list[dict[str, Any]] = []
    total = 0
    for sid in shared:
        differ = [m for m in binary if _number(va[sid].get(m)) is not None and _number(vb[sid].get(m)) is not None
                  and _number(va[sid].get(m)) != _number(vb[sid].get(m))]
        if differ:
            total += 1
            if len(disagreements) < MAX_DISAGREEMENTS:
                disagreements.append({"id": sid, "metrics": {m: [va[sid][m], vb[sid][m]] for m in differ}})
    return paired, disagreements, total


def compare(store: SampleStore, a: Run, b: Run) -> dict[str, Any]:
    """Everything the comparison page shows for runs ``a`` (the baseline) and ``b``."""
    tasks = []
    for name in _shared_tasks(a, b):
        ta, tb = a.task(name), b.task(name)
        assert ta is not None and tb is not None
        va, vb = _values_by_id(store, ta), _values_by_id(store, tb)
        paired, disagreements, n_dis = paired_differences(va, vb)
        metrics = list(dict.fromkeys([*ta.metrics, *tb.metrics]))
        tasks.append({
            "name": name,
            "index_a": ta.index, "index_b": tb.index,
            "metrics": [{"metric": m, "a": ta.metrics.get(m), "b": tb.metrics.get(m),
                         "se_a": ta.stderr.get(m), "se_b": tb.stderr.get(m)} for m in metrics],
            "n_a": len(va), "n_b": len(vb), "n_matched": sum(1 for s in va if s in vb),
            "logged": [ta.samples_path is not None, tb.samples_path is not None],
            "paired": [p.to_json() for p in paired],
            "disagreements": disagreements, "n_disagreements": n_dis,
        })
    only_a = [t.name for t in a.tasks if b.task(t.name) is None]
    only_b = [t.name for t in b.tasks if a.task(t.name) is None]
    return {"a": a.key, "b": b.key, "config_differences": config_differences(a, b),
            "tasks": tasks, "only_a": only_a, "only_b": only_b}
