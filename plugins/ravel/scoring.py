"""Score intervened outputs under every matching rule, keeping one record per example.

The records are what the per-sample log keeps (every intervened example: base and source
prompts, both values, the generated text and tokens, and per rule whether it matched each
value or was dropped), so Cause / Isolate / Disentangle can be recomputed from the log alone
(:func:`outcomes_from_records`).
"""

from __future__ import annotations

from collections import Counter
from typing import Callable, Sequence

from harness_plugins.ravel.instance import Completion, RavelExample
from harness_plugins.ravel.matching import PAPER_TOKENS, RULES, distinct, paper_match, producible, strict_budget, strict_match
from harness_plugins.ravel.metrics import Outcome

ValueIds = Callable[[str, str], tuple[int, ...]]  # (prompt, value) -> the value's tokens after the prompt


def budgets(examples: Sequence[RavelExample], value_ids: ValueIds, cap: int) -> list[int]:
    """New tokens that every rule needs for each example (capped): the paper's 3 label tokens,
    and the strict budget of both values."""
    out = []
    for e in examples:
        need = PAPER_TOKENS
        for v in (e.label, e.inv_label):
            need = max(need, strict_budget(len(value_ids(e.input, producible(v, e.input)))))
        out.append(min(need, cap))
    return out


def judge(rule: str, e: RavelExample, out: Completion, value_ids: ValueIds) -> dict:
    """{"hit_inv", "hit_label"} of one output under ``rule``, or {"dropped": reason}."""
    if rule == "paper":
        # label tokens as the official dataset has them: the model's own tokens for the value
        lab, inv = e.label_tokens, e.inv_label_tokens
        if not distinct("paper", e.label, e.inv_label):
            return {"dropped": "label == inv_label"}
        return {"hit_inv": paper_match(out.tokens, inv), "hit_label": paper_match(out.tokens, lab)}
    if rule == "strict":
        lab, inv = producible(e.label, e.input), producible(e.inv_label, e.input)
        if not distinct("strict", lab, inv):
            return {"dropped": f"{lab!r} and {inv!r} cannot be told apart"}
        hits = {}
        for key, v in (("hit_inv", inv), ("hit_label", lab)):
            text, _, ended = out.cut(strict_budget(len(value_ids(e.input, v))))
            hits[key] = strict_match(text, v, ended)
        return hits
    raise ValueError(f"unknown matching rule {rule!r}; choose from {', '.join(RULES)}")


def records(examples: Sequence[RavelExample], outs: Sequence[Completion], value_ids: ValueIds,
            rules: Sequence[str] = RULES) -> list[dict]:
    """One log record per intervened example."""
    out = []
    for e, o in zip(examples, outs):
        rec = {
            "attribute": e.attribute, "template": e.template, "input": e.input, "source": e.source_input,
            "source_kind": e.source_kind, "label": e.label, "inv_label": e.inv_label,
            "output": o.text, "tokens": list(o.tokens), "truncated": o.truncated,
        }
        for rule in rules:
            rec[rule] = judge(rule, e, o, value_ids)
        out.append(rec)
    return out


def outcomes_from_records(recs: Sequence[dict], rule: str) -> tuple[list[Outcome], Counter]:
    """(outcomes kept by ``rule``, attribute -> examples it dropped), from log records."""
    kept, dropped = [], Counter()
    for r in recs:
        j = r[rule]
        if "dropped" in j:
            dropped[r["attribute"]] += 1
        else:
            kept.append(Outcome(r["attribute"], r["template"], bool(j["hit_inv"]), bool(j["hit_label"])))
    return kept, dropped
