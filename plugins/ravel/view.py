"""How a RAVEL cell (entity type × attribute × method) looks in ``harness view``: its scores and
each logged example's base, source, expected and generated value."""

from __future__ import annotations

from typing import Any

from harness.hookspecs import hookimpl
from harness.viewer.blocks import Block, Fields, Table

BENCHMARKS = ("ravel",)


@hookimpl
def harness_view_sample(benchmark: str, task: str, record: dict[str, Any]) -> list[Block] | None:
    return view_sample(record) if benchmark in BENCHMARKS else None


def view_sample(record: dict[str, Any]) -> list[Block]:
    values = record.get("values") or {}
    doc = record.get("doc") or {}
    log = record.get("log") or {}
    blocks: list[Block] = [
        Fields("Cell", [(k, doc.get(k)) for k in ("entity_type", "target", "method", "layer") if k in doc] + [("site", log.get("site"))]),
        Fields("Scores", [(k, v) for k, v in values.items() if not isinstance(v, (dict, list))]),
    ]
    examples = log.get("examples")
    if isinstance(examples, dict):
        for split, rows in examples.items():
            if not isinstance(rows, list):
                continue
            table = []
            for ex in rows:
                if not isinstance(ex, dict):
                    continue
                hit = _hit(ex)
                table.append([ex.get("attribute", ""), ex.get("input"), ex.get("source"), ex.get("label"),
                              ex.get("inv_label"), ex.get("output"), hit])
            blocks.append(Table(f"{split}: {len(table)} examples", ["attribute", "base", "source", "base value", "expected value",
                                                                     "generated", "hit"],
                                table, highlight=[i for i, r in enumerate(table) if r[-1] is True]))
    if isinstance(log.get("fit"), dict):
        blocks.append(Fields("Fit", list(log["fit"].items())))
    return blocks


def _hit(ex: dict[str, Any]) -> bool | None:
    """Whether the generation matched the expected value (strict rule when logged), else unknown."""
    strict = ex.get("strict")
    if isinstance(strict, dict) and "hit_inv" in strict:
        return bool(strict["hit_inv"])
    return None
