"""Cause / Isolate / Disentangle recomputed by hand on a toy case; the output matching rule."""

from __future__ import annotations

import math

import pytest

from harness_plugins.ravel.matching import contains_value, distinct, normalise, paper_match, producible, strict_budget, strict_match
from harness_plugins.ravel.metrics import Outcome, average, saebench_pair, score


def _outcomes(attribute: str, template: str, hits: list[tuple[int, int]]) -> list[Outcome]:
    return [Outcome(attribute, template, bool(i), bool(lab)) for i, lab in hits]


def test_scores_recomputed_by_hand():
    # Target attribute: Country, two templates with different numbers of examples.
    outcomes = (
        _outcomes("Country", "c1", [(1, 0), (1, 0), (0, 1), (1, 0)])  # Cause 3/4
        + _outcomes("Country", "c2", [(0, 1), (1, 0)])  # Cause 1/2
        + _outcomes("Continent", "k1", [(0, 1), (0, 1), (1, 0)])  # Isolate 2/3
        + _outcomes("Continent", "k2", [(0, 0)])  # Isolate 0
        + _outcomes("Language", "l1", [(0, 1), (0, 1)])  # Isolate 1
    )
    s = score(outcomes, "Country")
    cause = (3 / 4 + 1 / 2) / 2  # mean over templates, not over examples (which would be 4/6)
    iso_continent = (2 / 3 + 0) / 2
    iso_language = 1.0
    isolate = (iso_continent + iso_language) / 2
    assert s.cause == pytest.approx(cause)
    assert s.isolate_by_attribute == pytest.approx({"Continent": iso_continent, "Language": iso_language})
    assert s.isolate == pytest.approx(isolate)
    assert s.disentangle == pytest.approx((cause + isolate) / 2)
    assert (s.n_cause, s.n_isolate) == (6, 6)

    # The same outcomes scored for another target: Continent's examples now measure Cause.
    s2 = score(outcomes, "Continent")
    assert s2.cause == pytest.approx((1 / 3 + 0) / 2)
    iso_country = (1 / 4 + 1 / 2) / 2
    assert s2.isolate == pytest.approx((iso_country + 1.0) / 2)


def test_missing_attributes_and_empty_cells():
    only_target = _outcomes("Country", "c1", [(1, 0)])
    s = score(only_target, "Country")
    assert s.cause == 1.0 and math.isnan(s.isolate) and math.isnan(s.disentangle)
    s = score(_outcomes("Language", "l1", [(0, 1)]), "Country")
    assert math.isnan(s.cause) and s.isolate == 1.0 and math.isnan(s.disentangle)
    avg = average({"Country": {"cause": 0.5, "isolate": 1.0, "disentangle": 0.75}, "Continent": {"cause": math.nan, "isolate": 0.0, "disentangle": math.nan}})
    assert avg == pytest.approx({"cause": 0.5, "isolate": 0.5, "disentangle": 0.75})


# --- the two matching rules, on hand-made cases -------------------------------------------

DIGITS = {c: 100 + int(c) for c in "0123456789"}  # a digit-per-token tokenizer


def _digits(text: str) -> list[int]:
    return [DIGITS[c] for c in text if c in DIGITS]


def test_year_stub_is_double_credit_under_paper_and_nothing_under_strict():
    # base value 1945, source value 1942; the intervened model says "194" then stops (3 tokens)
    out = _digits("194")
    assert paper_match(out, _digits("1945")) and paper_match(out, _digits("1942"))  # both "hit": the flaw
    assert distinct("paper", "1945", "1942")  # the official filter keeps the example
    assert not strict_match(" 194", "1945", ended=True) and not strict_match(" 194", "1942", ended=True)
    assert strict_match(" 1942,", "1942", ended=False) and not strict_match(" 1942,", "1945", ended=False)
    assert strict_budget(len(_digits("1945"))) == 5  # the whole value plus one token to see the boundary


def test_a_stem_or_a_finished_short_word_is_not_the_long_value():
    assert not strict_match(" think;", "thinks", ended=False)
    assert not strict_match(" manage", "manage farm", ended=True)
    assert strict_match(" thinks.", "thinks", ended=False)
    assert not strict_match(" thinks", "thinks", ended=False)  # cut at the budget: did the word end? unknown
    assert strict_match(" thinks", "thinks", ended=True)  # the model stopped: it did
    assert not strict_match(" thinkers", "thinks", ended=True)
    # values one rule cannot tell apart are dropped by it
    assert not distinct("strict", "New York", "New York City") and distinct("paper", "New York", "New York City")
    assert not distinct("strict", "Bogotá", "Bogota") and distinct("strict", "Lima", "Lyon")


def test_ipa_values_keep_their_letters():
    assert normalise("/ˈpærɪs/") == "ˈpærɪs"
    assert strict_match(" /ˈpærɪs/ ", "ˈpærɪs", ended=False)
    assert not strict_match(" /ˈpɔːl/ ", "ˈpærɪs", ended=False)
    assert not strict_match(" p", "ˈpærɪs", ended=True)  # the old ASCII-only rule reduced the value to "p"


def test_values_the_template_cannot_produce():
    assert producible("to think", "He wants to") == "think"
    assert producible("to think", "The verb is") == "to think"
    assert producible("Rio de Janeiro", "I live in Rio") == "de Janeiro"
    assert strict_match(" think about", producible("to think", "He wants to"), ended=False)


def test_normalise_and_contains_value():
    assert normalise("  Bogotá,  D.C. ") == "bogota d c"
    assert normalise("STRASSE") == normalise("strasse")
    assert contains_value(" Paris, France", "paris") and not contains_value(" Pa", "Paris")
    assert paper_match([5, 6], [5]) and not paper_match([5], [5, 6]) and not paper_match([], [5])


def test_missing_terms_are_named_with_their_reason():
    kept = _outcomes("Country", "c1", [(1, 0)]) + _outcomes("Language", "l1", [(0, 1)])
    s = score(kept, "Country", attributes=["Country", "Continent", "Language"], dropped={"Continent": 3})
    assert s.isolate_attributes == ["Language"] and s.isolate == 1.0
    assert "isolate:Continent" in s.missing and "dropped" in s.missing["isolate:Continent"]
    s = score(_outcomes("Language", "l1", [(0, 1)]), "Country", attributes=["Country", "Language"])
    assert math.isnan(s.cause) and "no examples" in s.missing["cause"]
    cov: dict = {}
    avg = average({"entity_test": {"cause": math.nan, "isolate": 0.5, "disentangle": math.nan},
                   "context_test": {"cause": 1.0, "isolate": 0.0, "disentangle": 0.5}}, cov)
    assert avg["cause"] == 1.0 and cov["cause"] == {"averaged": ["context_test"], "missing": ["entity_test"]}


def test_saebench_two_attribute_score_by_hand():
    cells = {"A": {"cause": 0.8, "isolate_by_attribute": {"B": 0.6, "C": 0.0}},
             "B": {"cause": 0.4, "isolate_by_attribute": {"A": 1.0, "C": 0.0}}}
    assert saebench_pair(cells, "A", "B") == pytest.approx(((0.8 + 0.6) / 2 + (0.4 + 1.0) / 2) / 2)
    assert math.isnan(saebench_pair(cells, "A", "C"))
