"""MQuAKE's metrics, computed per case from the answers a method produced.

* **Answer matching** (:func:`normalize_answer`): Unicode NFKC, case-folded, runs of
  whitespace collapsed to one space, and whitespace and punctuation (Unicode category P*)
  stripped from both ends. A prediction matches when its normalised form *equals* the
  normalised gold answer or one of its aliases (the paper's exact-match rule, made robust to
  "Arabic." vs "arabic").
* **Multi-hop accuracy**: a case is correct if *any* of its questions is answered with an
  accepted answer (edited: ``new_answer`` + aliases; unedited: ``answer`` + aliases +
  ``answer_extended``).
* **Hop-wise accuracy**: correct only if, for one and the same question, the final answer is
  accepted *and* every intermediate answer of the chain is right too.
* **Instance-wise accuracy**: every single-hop fact of the chain is recalled.
* **Edit-wise success**: the fraction of edits whose cloze is completed with ``target_new``.

Cloze completion (edit-wise, instance-wise) is a greedy continuation that *starts with* the
target (or an alias) at a word boundary, after normalisation.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Iterable, Sequence

from harness_plugins.mquake.data import Case, Edit, Hop

_SPACE = re.compile(r"\s+")


def _is_edge_char(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch).startswith("P")


def normalize_answer(text: str) -> str:
    """NFKC, casefold, collapse whitespace, strip surrounding whitespace and punctuation."""
    text = _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold())
    start, end = 0, len(text)
    while start < end and _is_edge_char(text[start]):
        start += 1
    while end > start and _is_edge_char(text[end - 1]):
        end -= 1
    return text[start:end]


def answer_matches(prediction: str | None, accepted: Iterable[str]) -> bool:
    """Normalised exact match of ``prediction`` against any accepted answer."""
    if prediction is None:
        return False
    pred = normalize_answer(prediction)
    if not pred:
        return False
    return any(pred == normalize_answer(a) for a in accepted if normalize_answer(a))


def completion_matches(continuation: str | None, accepted: Iterable[str]) -> bool:
    """Does a cloze's continuation start with an accepted answer at a word boundary?"""
    if continuation is None:
        return False
    text = normalize_answer(continuation.split("\n", 1)[0])
    for answer in accepted:
        gold = normalize_answer(answer)
        if gold and text.startswith(gold) and (len(text) == len(gold) or not text[len(gold)].isalnum()):
            return True
    return False


def mentions(text: str | None, accepted: Iterable[str]) -> bool:
    """Whether ``text`` mentions an accepted answer as a whole phrase (for chain-of-thought)."""
    if not text:
        return False
    hay = f" {normalize_answer(text)} "
    for answer in accepted:
        gold = normalize_answer(answer)
        if gold and re.search(rf"(?<![\w]){re.escape(gold)}(?![\w])", hay):
            return True
    return False


def hop_answers(hop: Hop) -> tuple[str, ...]:
    return (hop.answer, *hop.aliases)


# --- Per-question and per-case judgements ------------------------------------------------------


def multihop_correct(final_answers: Sequence[str | None], accepted: Iterable[str]) -> bool:
    """Any-of-the-questions rule: one accepted final answer suffices."""
    accepted = tuple(accepted)
    return any(answer_matches(a, accepted) for a in final_answers)


def hops_correct_explicit(final_answer: str | None, intermediates: Sequence[str | None], chain: Sequence[Hop], accepted: Iterable[str]) -> bool:
    """Hop-wise rule for methods that state each intermediate answer (MeLLo).

    The i-th stated intermediate answer must match hop i of the chain for every hop but the
    last, and the final answer must be accepted. Missing intermediate answers count as wrong.
    """
    if not answer_matches(final_answer, accepted):
        return False
    needed = len(chain) - 1
    if len(intermediates) < needed:
        return False
    return all(answer_matches(intermediates[i], hop_answers(chain[i])) for i in range(needed))


def hops_correct_mentioned(final_answer: str | None, thoughts: str | None, chain: Sequence[Hop], accepted: Iterable[str]) -> bool:
    """Hop-wise rule for chain-of-thought: every intermediate answer is mentioned in the thoughts."""
    if not answer_matches(final_answer, accepted):
        return False
    return all(mentions(thoughts, hop_answers(hop)) for hop in chain[:-1])


def edit_success(continuations: Sequence[str | None], edits: Sequence[Edit]) -> list[bool]:
    """Per edit: is its cloze completed with ``target_new``?"""
    if len(continuations) != len(edits):
        raise ValueError(f"{len(continuations)} continuations for {len(edits)} edits")
    return [completion_matches(c, (e.target_new,)) for c, e in zip(continuations, edits)]


def instance_correct(continuations: Sequence[str | None], chain: Sequence[Hop]) -> bool:
    """Every single-hop fact of ``chain`` recalled (its cloze completed with the answer or an alias)."""
    if len(continuations) != len(chain):
        raise ValueError(f"{len(continuations)} continuations for {len(chain)} hops")
    return all(completion_matches(c, hop_answers(h)) for c, h in zip(continuations, chain))


def edited_hops(case: Case) -> list[Edit | None]:
    """For each hop of the new chain, the case's edit that rewrote it (``None`` if unedited).

    A hop is matched to an edit with the same cloze and ``target_new`` (normalised); failing
    that, to an edit whose subject appears in the hop's cloze and whose ``target_new`` is the
    hop's answer.
    """
    out: list[Edit | None] = []
    for hop in case.new_single_hops:
        match = None
        for edit in case.edits:
            if normalize_answer(edit.cloze) == normalize_answer(hop.cloze) and normalize_answer(edit.target_new) == normalize_answer(hop.answer):
                match = edit
                break
        if match is None:
            for edit in case.edits:
                if normalize_answer(edit.target_new) == normalize_answer(hop.answer) and normalize_answer(edit.subject) in normalize_answer(hop.cloze or hop.question):
                    match = edit
                    break
        out.append(match)
    return out
