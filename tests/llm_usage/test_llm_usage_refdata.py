"""Against the paper's released data (../shared/refdata/llm_usage; skipped when absent).

Kept short: fitting both fields takes a few seconds; the 22 validation mixtures are checked
with the plain MLE (the bootstrap midpoint differs from it by < 0.0005 on these sets), and
one mixture per field with a 300-replicate bootstrap. ``tests/perf/bench_llm_usage.py
--refdata`` prints all 22 bootstrapped numbers.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest

from harness_plugins.llm_usage.corpus import iter_chunks
from harness_plugins.llm_usage.fit import WordDistribution
from harness_plugins.llm_usage.likelihood import log_ratios
from harness_plugins.llm_usage.mle import estimate_alpha, fit_alpha
from harness_plugins.llm_usage.table import WordTable

from llm_usage_helpers import REFDATA, needs_refdata

pytestmark = [needs_refdata, pytest.mark.refdata]

#: The paper's estimates on its validation sets (Liang et al. 2024), alpha -> alpha-hat.
PAPER = {"CS": {0.0: 0.025, 0.05: 0.080, 0.1: 0.128, 0.25: 0.270}, "Math": {0.0: 0.021, 0.05: 0.072, 0.1: 0.114, 0.25: 0.249}}
ALPHAS = ["0", "0.025", "0.05", "0.075", "0.1", "0.125", "0.15", "0.175", "0.2", "0.225", "0.25"]


@pytest.fixture(scope="module", params=["CS", "Math"])
def field(request):
    name = request.param
    fitted = WordDistribution().fit(iter_chunks(REFDATA / "training_data" / name / "human_data.parquet"),
                                    iter_chunks(REFDATA / "training_data" / name / "ai_data.parquet")).table_
    return name, fitted, WordTable.load(REFDATA / "reference_distribution" / f"{name}.csv")


def test_fitted_vocabulary_and_log_probabilities_match_the_reference(field):
    name, fitted, reference = field
    assert set(fitted.words) == set(reference.words), (sorted(set(fitted.words) - set(reference.words)), sorted(set(reference.words) - set(fitted.words)))
    ours, ref = fitted.index(), reference.index()
    for column in ("log_p", "log_1mp", "log_q", "log_1mq"):
        a = getattr(fitted, column)[[ours[w] for w in reference.words]]
        b = getattr(reference, column)[[ref[w] for w in reference.words]]
        assert np.max(np.abs(a - b)) < 1e-6, column


def test_a_naive_csv_reader_would_lose_the_word_null():
    with (REFDATA / "reference_distribution" / "CS.csv").open(newline="", encoding="utf-8") as fh:
        words = [row[0] for row in csv.reader(fh)][1:]
    assert "null" in words and "null" in WordTable.load(REFDATA / "reference_distribution" / "CS.csv").words


def test_validation_mixtures_match_the_paper(field):
    name, fitted, reference = field
    for alpha in ALPHAS:
        d = log_ratios(fitted, iter_chunks(REFDATA / "validation_data" / name / f"ground_truth_alpha_{alpha}.parquet"))
        assert len(d) == 30_000
        estimate = fit_alpha(d)
        if float(alpha) in PAPER[name]:
            assert estimate == pytest.approx(PAPER[name][float(alpha)], abs=0.002), (name, alpha)
        else:  # between the paper's neighbours: the estimate is monotone in the true alpha here
            assert float(alpha) < estimate < float(alpha) + 0.035, (name, alpha)


def test_bootstrap_midpoint_matches_the_paper(field):
    name, _, reference = field
    d = log_ratios(reference, iter_chunks(REFDATA / "validation_data" / name / "ground_truth_alpha_0.1.parquet"))
    est = estimate_alpha(d, n_bootstrap=300, seed=0)
    assert est.alpha == pytest.approx(PAPER[name][0.1], abs=0.002)
    assert est.ci_low < est.mle < est.ci_high
