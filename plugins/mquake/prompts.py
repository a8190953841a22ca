"""Few-shot prompts: demonstrations read from files, and the prompts built around them.

Shipped demonstrations (ours, in ``tasks/mquake/data/``) follow the papers' formats:

* plain multi-hop QA: ``Q: <question> A: <answer>`` lines;
* chain-of-thought: ``Question:`` / ``Thoughts:`` / ``Answer:`` blocks;
* MeLLo: ``Question:`` / ``Subquestion:`` / ``Generated answer:`` / ``Retrieved fact:`` /
  verdict line / ``Final answer:`` blocks.

The papers' own prompt files can be used instead by path (``demos: PATH``).
In-context editing puts the group's edit sentences on a "New facts:" line right before the
question (after the demonstrations).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from harness_plugins.mquake.data import Edit, MQuAKEDataError, resolve_path

DEFAULT_DEMOS = {
    "plain": "multihop_demos.txt",
    "cot": "multihop_cot_demos.txt",
    "mello": "mello_demos.txt",
}
_REQUIRED_MARKERS = {"plain": ("Q:", "A:"), "cot": ("Question:", "Thoughts:", "Answer:"), "mello": ("Question:", "Subquestion:", "Retrieved fact:", "Final answer:")}


def load_demos(style: str, path: str | Path | None = None) -> str:
    """The demonstrations text for ``style`` ("plain" | "cot" | "mello"), checked for its markers."""
    if style not in DEFAULT_DEMOS:
        raise ValueError(f"unknown prompt style {style!r} (expected one of {sorted(DEFAULT_DEMOS)})")
    file = resolve_path(path or DEFAULT_DEMOS[style])
    text = file.read_text(encoding="utf-8").strip()
    missing = [m for m in _REQUIRED_MARKERS[style] if m not in text]
    if not text or missing:
        raise MQuAKEDataError(f"{file}: not a {style!r} demonstrations file (missing {missing or 'any text'})")
    return text


def facts_line(edits: Sequence[Edit]) -> str:
    """The in-context edit block: every edit sentence, each ending with a period."""
    return "New facts: " + " ".join(f"{e.sentence}." for e in edits)


def plain_prompt(demos: str, question: str, edits: Sequence[Edit] = ()) -> str:
    facts = facts_line(edits) + "\n" if edits else ""
    return f"{demos}\n{facts}Q: {question} A:"


def cot_prompt(demos: str, question: str, edits: Sequence[Edit] = ()) -> str:
    facts = facts_line(edits) + "\n" if edits else ""
    return f"{demos}\n\n{facts}Question: {question}\nThoughts:"


def cloze_prompt(cloze: str, edits: Sequence[Edit] = ()) -> str:
    """Edit-wise / instance-wise probe: the cloze, after the edits for in-context editing."""
    return (facts_line(edits) + "\n" if edits else "") + cloze


def mello_prompt(demos: str, question: str) -> str:
    """The start of a MeLLo transcript; the model continues with "Subquestion: ..."."""
    return f"{demos}\n\nQuestion: {question}\n"
