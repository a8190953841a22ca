"""How an activation-decoding question looks in ``harness view``: for TruthfulQA each answer's
score under each decoding method (true answers marked), for open QA each method's prediction."""

from __future__ import annotations

from typing import Any

from harness.hookspecs import hookimpl
from harness.viewer.blocks import Block, Fields, Table

BENCHMARKS = ("activation_decoding_truthfulqa_mc", "activation_decoding_truthfulqa_binary", "activation_decoding_openqa")


@hookimpl
def harness_view_sample(benchmark: str, task: str, record: dict[str, Any]) -> list[Block] | None:
    return view_sample(record) if benchmark in BENCHMARKS else None


def view_sample(record: dict[str, Any]) -> list[Block]:
    doc = record.get("doc") or {}
    values = record.get("values") or {}
    log = record.get("log") or {}
    blocks: list[Block] = [Fields("Question", [(k, doc[k]) for k in ("question", "best", "answers", "category") if k in doc])]
    answers = log.get("answers")
    if isinstance(answers, dict) and answers:
        correct = set(doc.get("correct") or [])
        methods = list(dict.fromkeys(m for a in answers.values() if isinstance(a, dict) for m in (a.get("scores") or {})))
        rows = []
        for text, info in answers.items():
            info = info if isinstance(info, dict) else {}
            true = info.get("true", text in correct)
            scores = info.get("scores") or {}
            rows.append([text, "true" if true else "false", info.get("n_tokens"), *(scores.get(m) for m in methods)])
        blocks.append(Table(f"Answers: log-probability under each of {len(methods)} methods", ["answer", "truth", "tokens", *methods],
                            rows, highlight=[i for i, r in enumerate(rows) if r[1] == "true"]))
    predictions = log.get("predictions")
    if isinstance(predictions, dict):
        blocks.append(Table("Predictions", ["method", "prediction"], [[m, p] for m, p in predictions.items()]))
    by_method: dict[str, list[tuple[str, Any]]] = {}
    for key, value in values.items():
        method, _, metric = key.rpartition("/")
        if method:
            by_method.setdefault(method, []).append((metric, value))
    if by_method:
        metrics = list(dict.fromkeys(m for pairs in by_method.values() for m, _ in pairs))
        blocks.append(Table("Scores per method", ["method", *metrics],
                            [[method, *(dict(pairs).get(m) for m in metrics)] for method, pairs in by_method.items()]))
    return blocks
