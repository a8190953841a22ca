"""Few-shot multi-hop answering (plain and chain-of-thought) and cloze probes, batched.

Used by the no-edit baseline, in-context editing (edits in the prompt) and weight editing
(edits in the weights). Every request of one call is generated in one batched
``adapter.generate`` call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

from harness_plugins.mquake.data import Edit
from harness_plugins.mquake.parser import parse_cot, parse_plain
from harness_plugins.mquake.prompts import cloze_prompt, cot_prompt, plain_prompt

if TYPE_CHECKING:  # pragma: no cover
    from harness.models.base import ModelAdapter

PLAIN_STOPS = ("\n",)
COT_STOPS = ("\n\n", "\nQuestion:")
CLOZE_STOPS = ("\n",)


@dataclass
class QuestionOutcome:
    """How one method answered one multi-hop question."""

    question: str
    final_answer: str | None
    intermediates: list[str | None] | None = None  # stated per-hop answers (MeLLo)
    thoughts: str | None = None  # chain-of-thought text
    failure: str = ""  # "" or a failure mode: "parse", "max_iterations"
    error: str = ""
    retrievals: list[dict[str, Any]] = field(default_factory=list)  # MeLLo
    log: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class QAItem:
    question: str
    edits: tuple[Edit, ...] = ()  # in-context edits ("" for none)


def answer_questions(model: ModelAdapter, items: Sequence[QAItem], demos: str, style: str, max_new_tokens: int) -> list[QuestionOutcome]:
    """Answer each item's question few-shot in one batched generation call."""
    from harness.models.base import GenerationRequest

    if style not in ("plain", "cot"):
        raise ValueError(f"unknown prompting style {style!r} (expected 'plain' or 'cot')")
    build, stops = (plain_prompt, PLAIN_STOPS) if style == "plain" else (cot_prompt, COT_STOPS)
    prompts = [build(demos, it.question, it.edits) for it in items]
    results = model.generate([GenerationRequest(prompt=p, max_new_tokens=max_new_tokens, stop=stops) for p in prompts])
    outcomes = []
    for it, prompt, res in zip(items, prompts, results):
        log = {"generation": res.text, "finish_reason": res.finish_reason, "n_tokens": res.n_tokens, "prompt_chars": len(prompt)}
        if style == "plain":
            answer = parse_plain(res.text)
            outcomes.append(QuestionOutcome(it.question, answer, failure="" if answer else "parse", error="" if answer else "empty answer", log=log))
        else:
            cot = parse_cot(res.text)
            outcomes.append(QuestionOutcome(it.question, cot.answer, thoughts=cot.thoughts, failure="parse" if cot.error else "", error=cot.error, log=log))
    return outcomes


def complete_clozes(model: ModelAdapter, clozes: Sequence[str], edits: Sequence[Sequence[Edit]], max_new_tokens: int = 12) -> list[str]:
    """Greedy continuations of cloze statements (optionally after in-context edits)."""
    from harness.models.base import GenerationRequest

    if not clozes:
        return []
    reqs = [GenerationRequest(prompt=cloze_prompt(c, e), max_new_tokens=max_new_tokens, stop=CLOZE_STOPS) for c, e in zip(clozes, edits)]
    return [r.text for r in model.generate(reqs)]
