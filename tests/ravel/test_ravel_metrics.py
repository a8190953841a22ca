"""Cause / Isolate / Disentangle recomputed by hand on a toy case; the output matching rule."""

from __future__ import annotations

import math

import pytest

from plugins.ravel.matching import first_match, gives_value, normalise, same_value
from plugins.ravel.metrics import Outcome, average, score


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


@pytest.mark.parametrize(
    "output, value, truncated, expected",
    [
        (" France, known", "France", True, True),
        (" france.\n", "France", False, True),
        (" São Paulo is", "Sao Paulo", True, True),
        (" Frances", "France", True, False),  # not word-aligned
        (" United States of", "United States", True, True),
        (" United", "United States", True, True),  # cut by the token limit: a word-aligned prefix
        (" United", "United States", False, False),  # the model stopped: it did not say the value
        (' Europe/Cop', "Europe/Copenhagen", True, True),  # cut mid-word after 3+ letters
        (" Eu", "Europe", True, False),  # too short a stub
        (" the UK", "United Kingdom", True, False),
        ("", "France", True, False),
        (" ...", "France", True, False),
        (" 57.05", "57", True, True),
        (" 570", "57", True, False),
    ],
)
def test_gives_value(output, value, truncated, expected):
    assert gives_value(output, value, truncated) is expected


def test_normalise_first_match_and_same_value():
    assert normalise("  Bogotá,  D.C. ") == "bogota d c"
    assert first_match(" Dutch and French", ("French", "Dutch")) == "Dutch"
    assert first_match(" German", ("French", "Dutch")) is None
    assert same_value("São Paulo", "sao paulo") and not same_value("Guinea", "Guinea-Bissau")
