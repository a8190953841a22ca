"""Metric functions recomputed by hand on small cases."""

from __future__ import annotations

import math

from harness.benchmark import SampleResult
from harness_plugins.mquake.data import parse_case
from harness_plugins.mquake.metrics import (
    answer_matches, completion_matches, edit_success, edited_hops, hops_correct_explicit, hops_correct_mentioned,
    instance_correct, mentions, multihop_correct, normalize_answer,
)
from harness_plugins.mquake.qa import QuestionOutcome
from harness_plugins.mquake.scoring import aggregate, score_case


def test_normalisation():
    assert normalize_answer("  South   America. ") == "south america"
    assert normalize_answer("\u201cArabic\u201d") == "arabic"
    assert normalize_answer("Washington, D.C.") == "washington, d.c"
    assert normalize_answer("...") == ""


def test_alias_and_exact_match():
    accepted = ("South America", "South American continent")
    assert answer_matches("south american continent", accepted)
    assert answer_matches("South America.", accepted)
    assert not answer_matches("America", accepted)
    assert not answer_matches("South America is the answer", accepted)  # exact, not containment
    assert not answer_matches(None, accepted) and not answer_matches("  ", accepted)


def test_any_of_three_questions():
    accepted = ("Rome", "Roma")
    assert multihop_correct([None, "Paris", "roma"], accepted)
    assert not multihop_correct(["Paris", None, "Milan"], accepted)


def test_hopwise_explicit(raw_case):
    case = parse_case(raw_case)
    chain, accepted = case.new_single_hops, case.new_answers()
    assert hops_correct_explicit("South America", ["Gates", "Brazil", "South America"], chain, accepted)
    assert not hops_correct_explicit("South America", ["Bill Gates", "United States"], chain, accepted)  # right answer, wrong path
    assert not hops_correct_explicit("South America", ["Bill Gates"], chain, accepted)  # a hop missing
    assert not hops_correct_explicit("North America", ["Bill Gates", "Brazil"], chain, accepted)


def test_hopwise_mentioned_in_thoughts(raw_case):
    case = parse_case(raw_case)
    chain, accepted = case.new_single_hops, case.new_answers()
    thoughts = "Microsoft was founded by Bill Gates. Bill Gates is a citizen of Brazil."
    assert hops_correct_mentioned("South America", thoughts, chain, accepted)
    assert not hops_correct_mentioned("South America", "Microsoft was founded by Bill Gates.", chain, accepted)
    assert not mentions("Brazilian coffee", ("Brazil",))  # whole phrases only


def test_completion_edit_and_instance(raw_case):
    case = parse_case(raw_case)
    assert completion_matches(" Brazil, a country in", ("Brazil",))
    assert not completion_matches(" Brazilian", ("Brazil",))
    assert edit_success([" Brazil.", " the USA"], list(case.edits) * 2) == [True, False]
    assert instance_correct([" Gates", " Brazil", " South America"], case.new_single_hops)
    assert not instance_correct([" Gates", " the USA", " South America"], case.new_single_hops)


def test_edited_hops(raw_case):
    case = parse_case(raw_case)
    assert [e is not None for e in edited_hops(case)] == [False, True, False]


def _mello(final, intermediates, facts, failure=""):
    retrievals = [{"fact": f, "intermediate_answer": a} for f, a in zip(facts, intermediates)]
    return QuestionOutcome("q", final, intermediates=intermediates, retrievals=retrievals, failure=failure)


def test_score_case_and_aggregate_by_hand(raw_case):
    case = parse_case(raw_case)
    edit = "Bill Gates is a citizen of Brazil"
    # Case A: question 1 malformed, question 2 right with the right path (edit retrieved at hop 2).
    a = score_case(case, [_mello(None, [], [], failure="parse"),
                          _mello("South America", ["Bill Gates", "Brazil", "South America"], ["x", edit, "y"])], True, "mello")
    assert (a["multihop"], a["hop"], a["parse_failures"], a["questions"]) == (1, 1, 1, 2)
    assert (a["edited_hop_retrievals"], a["wrong_retrievals"], a["ignored_edits"]) == (1, 0, 0)
    # Case B: wrong fact at the edited hop; case C: right fact but its answer ignored.
    b = score_case(case, [_mello("North America", ["Bill Gates", "United States"], ["x", "wrong fact"])], True, "mello")
    c = score_case(case, [_mello("North America", ["Bill Gates", "United States"], ["x", edit])], True, "mello")
    assert (b["multihop"], b["old_answer"], b["wrong_retrievals"], c["ignored_edits"]) == (0, 1, 1, 1)
    res = aggregate([SampleResult(str(i), v) for i, v in enumerate((a, b, c))], {})
    assert math.isclose(res.metrics["multihop_acc"], 1 / 3)
    assert math.isclose(res.metrics["parse_failure_rate"], 1 / 4)  # 1 malformed of 4 questions asked
    assert math.isclose(res.metrics["wrong_retrieval_rate"], 1 / 3)
    assert math.isclose(res.metrics["ignored_edit_rate"], 1 / 2)  # of the 2 right retrievals
    assert math.isclose(res.metrics["old_answer_rate"], 2 / 3)
    assert res.details["counts"]["questions"] == 4


def test_unedited_scoring_uses_original_chain(raw_case):
    case = parse_case(raw_case)
    out = QuestionOutcome("q", "NA", thoughts="Microsoft was founded by Gates. Gates is a citizen of the USA.")
    v = score_case(case, [out], False, "cot")
    assert (v["multihop"], v["hop"], v["new_answer"]) == (1, 1, 0)
