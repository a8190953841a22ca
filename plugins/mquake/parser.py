"""Parsing MeLLo's generations and chain-of-thought answers.

A MeLLo step is one generation, stopped before "Retrieved fact:". Its lines are, in order:
an optional verdict on the previous retrieved fact ("Retrieved fact (does not) contradict(s)
to generated answer, so the intermediate answer is: X"), then either a "Final answer: X" line
or a "Subquestion: Q" line followed by "Generated answer: A". Anything else is *malformed*:
the case's question ends as incorrect with the reason logged, never an exception.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

SUBQUESTION = "Subquestion:"
GENERATED = "Generated answer:"
RETRIEVED = "Retrieved fact:"
FINAL = "Final answer:"
_VERDICT = re.compile(r"^Retrieved fact (does not contradict|contradicts)\b.*?intermediate answer is:\s*(.*)$", re.IGNORECASE)


@dataclass
class MelloStep:
    """What one MeLLo generation says."""

    kind: str  # "final" | "subquestion" | "malformed"
    final_answer: str | None = None
    subquestion: str | None = None
    generated_answer: str | None = None
    verdict: str | None = None  # "contradicts" | "no contradiction" | None (no verdict line)
    intermediate_answer: str | None = None  # from the verdict line about the previous fact
    error: str = ""

    def to_log(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, "")}


def _after(line: str, label: str) -> str:
    return line[len(label):].strip()


def parse_mello_step(text: str) -> MelloStep:
    """Parse one generation (the text the model wrote in this iteration)."""
    lines = [ln.strip() for ln in text.strip().split("\n") if ln.strip()]
    if not lines:
        return MelloStep(kind="malformed", error="empty generation")
    step = MelloStep(kind="malformed")
    for ln in lines:
        m = _VERDICT.match(ln)
        if m:
            step.verdict = "no contradiction" if m.group(1).lower().startswith("does not") else "contradicts"
            step.intermediate_answer = m.group(2).strip().rstrip(".").strip() or None
            break
    for ln in lines:
        if ln.startswith(FINAL):
            answer = _after(ln, FINAL)
            if not answer:
                step.error = "empty 'Final answer:' line"
                return step
            step.kind, step.final_answer = "final", answer
            return step
    sub_index = max((i for i, ln in enumerate(lines) if ln.startswith(SUBQUESTION)), default=None)
    if sub_index is None:
        step.error = "no 'Subquestion:' or 'Final answer:' line"
        return step
    subquestion = _after(lines[sub_index], SUBQUESTION)
    if not subquestion:
        step.error = "empty 'Subquestion:' line"
        return step
    step.kind, step.subquestion = "subquestion", subquestion
    if sub_index + 1 < len(lines) and lines[sub_index + 1].startswith(GENERATED):
        step.generated_answer = _after(lines[sub_index + 1], GENERATED) or None
    return step


@dataclass
class CotAnswer:
    answer: str | None
    thoughts: str
    error: str = ""


def parse_cot(text: str) -> CotAnswer:
    """Split a chain-of-thought continuation (after "Thoughts:") into thoughts and the "Answer:" line."""
    lines = text.strip().split("\n")
    for i, ln in enumerate(lines):
        if ln.strip().startswith("Answer:"):
            answer = ln.strip()[len("Answer:"):].strip()
            thoughts = "\n".join(lines[:i]).strip()
            return CotAnswer(answer=answer or None, thoughts=thoughts, error="" if answer else "empty 'Answer:' line")
    return CotAnswer(answer=None, thoughts=text.strip(), error="no 'Answer:' line")


def parse_plain(text: str) -> str | None:
    """A plain few-shot answer: the first line of the continuation after "A:"."""
    first = text.strip().split("\n", 1)[0].strip()
    return first or None
