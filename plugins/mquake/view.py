"""How an MQuAKE case looks in ``harness view``: the edits, each question's answer, and for
MeLLo every iteration with its subquestion, generated answer and retrieved fact."""

from __future__ import annotations

from typing import Any

from harness.hookspecs import hookimpl
from harness.viewer.blocks import Block, Fields, Table, Text

BENCHMARKS = ("mquake",)


@hookimpl
def harness_view_sample(benchmark: str, task: str, record: dict[str, Any]) -> list[Block] | None:
    return view_sample(record) if benchmark in BENCHMARKS else None


def view_sample(record: dict[str, Any]) -> list[Block]:
    doc = record.get("doc") or {}
    values = record.get("values") or {}
    log = record.get("log") or {}
    blocks: list[Block] = [
        Fields("Case", [("case", doc.get("case_id")), ("hops", doc.get("n_hops")), ("original answer", doc.get("answer")),
                        ("new answer", doc.get("new_answer")), ("method", log.get("method")), ("k", log.get("k"))]),
        Table("Edits", ["edit"], [[e] for e in doc.get("edits") or []]),
        Fields("Scores", [(k, v) for k, v in values.items() if not isinstance(v, (dict, list))]),
    ]
    for n, q in enumerate(log.get("questions") or [], 1):
        if not isinstance(q, dict):
            continue
        blocks.append(Fields(f"Question {n}", [("question", q.get("question")), ("final answer", q.get("final_answer")),
                                               ("correct", q.get("correct")), ("failure", q.get("failure")), ("error", q.get("error"))]))
        iterations = q.get("iterations")
        if isinstance(iterations, list) and iterations:
            rows = []
            for it in iterations:
                parsed = it.get("parsed") if isinstance(it.get("parsed"), dict) else {}
                rows.append([it.get("iteration"), parsed.get("subquestion"), parsed.get("generated_answer"),
                             it.get("retrieved_fact"), parsed.get("verdict"), parsed.get("intermediate_answer")])
            blocks.append(Table(f"Question {n}: MeLLo iterations", ["iteration", "subquestion", "generated answer",
                                                                    "retrieved fact", "verdict", "intermediate answer"], rows))
        elif q.get("generation") is not None:
            blocks.append(Text(f"Question {n}: generation", str(q["generation"])))
    return blocks
