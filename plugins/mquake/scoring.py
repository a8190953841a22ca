"""From a case's question outcomes to its metric values, and from cases to task metrics.

MeLLo's failure modes are counted here:

* ``parse`` failures: a generation with neither a well-formed subquestion nor a final answer;
* ``max_iterations``: still asking subquestions after the last retrieval round;
* wrong retrievals: retrieval round *j* asked about hop *j* of a chain whose hop *j* was
  edited, and the top-1 fact was not that edit's sentence (rounds are aligned with hops in
  order, as the demonstrations decompose questions);
* ignored edits: the right edit was retrieved, but the stated intermediate answer is not its
  ``target_new``.
"""

from __future__ import annotations

from typing import Any, Sequence

from harness.benchmark import SampleResult, TaskResult, mean_and_stderr
from harness_plugins.mquake.data import Case
from harness_plugins.mquake.metrics import (
    answer_matches,
    edited_hops,
    hops_correct_explicit,
    hops_correct_mentioned,
    multihop_correct,
)
from harness_plugins.mquake.qa import QuestionOutcome


def reference(case: Case, edited: bool) -> tuple[tuple, tuple[str, ...]]:
    """The chain and accepted final answers a method is judged against."""
    return (case.new_single_hops, case.new_answers()) if edited else (case.single_hops, case.original_answers())


def question_hop_correct(outcome: QuestionOutcome, case: Case, edited: bool, style: str) -> bool | None:
    chain, accepted = reference(case, edited)
    if style == "mello":
        return hops_correct_explicit(outcome.final_answer, outcome.intermediates or [], chain, accepted)
    if style == "cot":
        return hops_correct_mentioned(outcome.final_answer, outcome.thoughts, chain, accepted)
    return None  # plain answers state no intermediate hops


def question_solved(outcome: QuestionOutcome, case: Case, edited: bool, style: str) -> bool:
    """Whether asking further paraphrases could change no metric (early exit)."""
    hop = question_hop_correct(outcome, case, edited, style)
    if hop is not None:
        return hop
    return answer_matches(outcome.final_answer, reference(case, edited)[1])


def retrieval_stats(case: Case, outcomes: Sequence[QuestionOutcome]) -> dict[str, int]:
    gold_edits = edited_hops(case)
    stats = {"retrievals": 0, "edited_hop_retrievals": 0, "wrong_retrievals": 0, "ignored_edits": 0}
    for out in outcomes:
        for j, r in enumerate(out.retrievals):
            stats["retrievals"] += 1
            edit = gold_edits[j] if j < len(gold_edits) else None
            if edit is None:
                continue
            stats["edited_hop_retrievals"] += 1
            if r["fact"] != edit.sentence:
                stats["wrong_retrievals"] += 1
            elif not answer_matches(r.get("intermediate_answer"), (edit.target_new,)):
                stats["ignored_edits"] += 1
    return stats


def score_case(case: Case, outcomes: Sequence[QuestionOutcome], edited: bool, style: str) -> dict[str, Any]:
    _, accepted = reference(case, edited)
    finals = [o.final_answer for o in outcomes]
    hops = [question_hop_correct(o, case, edited, style) for o in outcomes]
    values: dict[str, Any] = {
        "multihop": int(multihop_correct(finals, accepted)),
        "hop": None if style == "plain" else int(any(bool(h) for h in hops)),
        "new_answer": int(any(answer_matches(f, case.new_answers()) for f in finals)),
        "old_answer": int(any(answer_matches(f, case.original_answers()) for f in finals)),
        "questions": len(outcomes),
        "answered": sum(f is not None for f in finals),
        "parse_failures": sum(o.failure == "parse" for o in outcomes),
        "max_iterations": sum(o.failure == "max_iterations" for o in outcomes),
    }
    if style == "mello":  # wrong retrievals and ignored edits concern the edited hops of the case's own chain
        values.update(retrieval_stats(case, outcomes) if edited else {"retrievals": sum(len(o.retrievals) for o in outcomes)})
    return values


def outcome_log(outcome: QuestionOutcome, correct: bool, hop: bool | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"question": outcome.question, "final_answer": outcome.final_answer, "correct": correct}
    if hop is not None:
        entry["hop_correct"] = hop
    if outcome.intermediates is not None:
        entry["intermediate_answers"] = outcome.intermediates
    if outcome.thoughts is not None:
        entry["thoughts"] = outcome.thoughts
    if outcome.failure:
        entry["failure"], entry["error"] = outcome.failure, outcome.error
    if outcome.retrievals:
        entry["retrievals"] = outcome.retrievals
    entry.update(outcome.log)
    return entry


# --- Aggregation --------------------------------------------------------------------------


def _rate(results: Sequence[SampleResult], num: str, den: str) -> float:
    n = sum(r.values.get(num) or 0 for r in results)
    d = sum(r.values.get(den) or 0 for r in results)
    return n / d if d else float("nan")


def aggregate(results: Sequence[SampleResult], details: dict[str, Any]) -> TaskResult:
    metrics: dict[str, float] = {}
    stderr: dict[str, float] = {}
    for key, name in (("multihop", "multihop_acc"), ("hop", "hop_acc"), ("instance", "instance_acc"), ("new_answer", "new_answer_rate"), ("old_answer", "old_answer_rate")):
        vals = [float(r.values[key]) for r in results if r.values.get(key) is not None]
        if vals:
            metrics[name], stderr[name] = mean_and_stderr(vals)
    if any(r.values.get("edits") for r in results):
        metrics["edit_acc"] = _rate(results, "edits_success", "edits")
    metrics["parse_failure_rate"] = _rate(results, "parse_failures", "questions")
    if any("retrievals" in r.values for r in results):
        metrics["max_iterations_rate"] = _rate(results, "max_iterations", "questions")
        metrics["wrong_retrieval_rate"] = _rate(results, "wrong_retrievals", "edited_hop_retrievals")
        right = sum((r.values.get("edited_hop_retrievals") or 0) - (r.values.get("wrong_retrievals") or 0) for r in results)
        metrics["ignored_edit_rate"] = sum(r.values.get("ignored_edits") or 0 for r in results) / right if right else float("nan")
    counts = {}
    for key in ("questions", "answered", "parse_failures", "max_iterations", "retrievals", "edited_hop_retrievals", "wrong_retrievals", "ignored_edits", "edits", "edits_success"):
        if any(key in r.values for r in results):
            counts[key] = int(sum(r.values.get(key) or 0 for r in results))
    return TaskResult(metrics=metrics, stderr=stderr, n_samples=len(results), details={**details, "counts": counts})
