"""How a CausalGym cell (task × method × site) looks in ``harness view``: the cell, its scores,
and each evaluated base/source pair with the label log-odds before and after the intervention."""

from __future__ import annotations

from typing import Any

from harness.hookspecs import hookimpl
from harness.viewer.blocks import Block, Fields, Table

BENCHMARKS = ("causalgym",)


@hookimpl
def harness_view_sample(benchmark: str, task: str, record: dict[str, Any]) -> list[Block] | None:
    return view_sample(record) if benchmark in BENCHMARKS else None


def view_sample(record: dict[str, Any]) -> list[Block]:
    values = record.get("values") or {}
    doc = record.get("doc") or {}
    cell = [(k, doc.get(k, values.get(k))) for k in ("task", "method", "site", "span", "position") if k in doc or k in values]
    scores = [(k, values[k]) for k in ("logodds", "iia", "task_accuracy", "selectivity", "control_logodds", "control_leakage",
                                        "n_train", "n_eval", "train_steps", "best_step", "stopped", "final_loss", "seconds") if k in values]
    blocks: list[Block] = [Fields("Cell", cell), Fields("Scores", scores)]
    pairs = (record.get("log") or {}).get("pairs")
    if isinstance(pairs, list) and pairs:
        rows = [[p.get("pair", i), p.get("base"), p.get("source"), p.get("base_label"), p.get("expected"),
                 p.get("clean_logodds"), p.get("intervened_logodds"), p.get("effect"), p.get("matched")]
                for i, p in enumerate(pairs) if isinstance(p, dict)]
        blocks.append(Table(f"Pairs ({len(rows)}): label log-odds before and after the intervention",
                            ["pair", "base", "source", "base label", "expected", "log-odds before", "log-odds after", "effect", "flipped"],
                            rows, highlight=[i for i, r in enumerate(rows) if r[-1] is True]))
    else:
        blocks.append(Fields("Pairs", [("per-pair log", "not in this log (written by an older version)")]))
    return blocks
