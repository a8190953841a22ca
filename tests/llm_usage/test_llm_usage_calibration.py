"""Bias correction by cross-fitted calibration, and mixture validation."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from harness_plugins.llm_usage.calibration import Calibration, calibrate, cross_fit_ratios, curve
from harness_plugins.llm_usage.corpus import Chunk
from harness_plugins.llm_usage.mle import Estimate, fit_alpha
from harness_plugins.llm_usage.validation import draw_mixture, largest_mixture, summarise, validate_mixtures


def chunks(sentences, size=700):
    arr = pa.array(sentences, type=pa.list_(pa.string()))
    return lambda: [Chunk(arr.slice(i, size)) for i in range(0, len(arr), size)]


def test_correction_inverts_the_curve_monotonically_and_clips():
    cal = Calibration(alphas=[0.0, 0.5, 1.0], expected=[0.02, 0.5, 0.96])
    assert cal.correct(0.02) == pytest.approx(0.0) and cal.correct(0.26) == pytest.approx(0.25)
    assert cal.correct(0.0) == 0.0 and cal.correct(0.99) == 1.0
    corrected = cal.correct_estimate(Estimate(0.26, 0.25, 0.27, 0.26, 1000, 100))
    assert corrected.ci_low < corrected.alpha < corrected.ci_high and corrected.alpha == pytest.approx(0.25)
    assert cal.error_at(0.0) == pytest.approx(0.02)
    with pytest.raises(ValueError, match="strictly increasing"):
        Calibration(alphas=[0.0, 0.0], expected=[0.1, 0.2])


def test_calibration_round_trips_json(tmp_path):
    cal = Calibration(alphas=[0.0, 1.0], expected=[0.1, 0.9], folds=3, info={"n": 5})
    assert Calibration.load(cal.save(tmp_path / "c.json")) == cal
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="not a calibration file"):
        Calibration.load(tmp_path / "bad.json")


def test_curve_is_the_limit_of_large_mixtures():
    rng = np.random.default_rng(0)
    d_h, d_a = rng.normal(-2, 1.5, 4000), rng.normal(1.5, 1.5, 4000)
    (at_30,) = curve(d_h, d_a, [0.3])
    big = np.concatenate([np.tile(d_h, 7), np.tile(d_a, 3)])  # exactly 70% / 30% of the two empirical sets
    assert at_30 == pytest.approx(fit_alpha(big), abs=1e-9)


def test_cross_fitting_gives_every_sentence_an_out_of_fold_ratio(world):
    human, ai = world.human(1500), world.ai(1200)
    d_h, d_a = cross_fit_ratios(chunks(human), chunks(ai), folds=3, seed=1)
    assert d_h.shape == (1500,) and d_a.shape == (1200,) and np.isfinite(d_h).all()
    assert d_h.mean() < 0 < d_a.mean()  # held-out human text looks human, AI text looks AI
    again = cross_fit_ratios(chunks(human), chunks(ai), folds=3, seed=1)
    np.testing.assert_array_equal(again[0], d_h)  # seeded folds: reproducible


def test_correction_removes_a_bias_from_misspecification(world):
    """Sentences of varying length (word occurrences not independent, against the model's
    assumption): the plain estimate is biased low; calibrating on cross-fitted mixtures of
    the reference corpora removes most of the bias on fresh mixtures."""
    from harness_plugins.llm_usage.fit import fit_sentences
    from harness_plugins.llm_usage.likelihood import log_ratios

    def arr(sentences):
        return pa.array(sentences, type=pa.list_(pa.string()))

    human, ai = world.human(3000, length_sd=0.7), world.ai(3000, length_sd=0.7)
    cal = calibrate(chunks(human), chunks(ai), folds=3, seed=0)
    table = fit_sentences(arr(human), arr(ai))
    d_h = log_ratios(table, [Chunk(arr(world.human(4000, length_sd=0.7)))])
    d_a = log_ratios(table, [Chunk(arr(world.ai(1500, length_sd=0.7)))])
    results = validate_mixtures(d_h, d_a, [0.0, 0.1, 0.2], n_bootstrap=100, seed=0, calibration=cal)
    summary = summarise(results)
    assert summary["mae"] > 0.02
    assert summary["mae_corrected"] < summary["mae"] / 2
    assert summary["coverage_corrected"] >= summary["coverage"]


def test_mixtures_have_the_requested_composition():
    d_h, d_a = np.zeros(100), np.ones(30)
    assert largest_mixture(100, 30, [0.0, 0.25]) == 100
    mix = draw_mixture(d_h, d_a, 0.25, 100, np.random.default_rng(0))
    assert len(mix) == 100 and mix.sum() == 25
    with pytest.raises(ValueError, match="only 100 and 30 are available"):
        draw_mixture(d_h, d_a, 0.5, 100, np.random.default_rng(0))


def test_exact_inverse_of_the_curve_recovers_alpha():
    from harness_plugins.llm_usage.corrected import inverse_curve
    from harness_plugins.llm_usage.mle import inverse_terms

    rng = np.random.default_rng(3)
    d_h, d_a = rng.normal(-2, 1.5, 3000), rng.normal(1.5, 1.5, 2000)
    grid = [0.1, 0.35, 0.8]
    expected = curve(d_h, d_a, grid)
    assert min(expected) > 0
    got = inverse_curve(np.array(expected), inverse_terms(d_h), inverse_terms(d_a))
    np.testing.assert_allclose(got, grid, atol=1e-7)
    assert inverse_curve(0.0, inverse_terms(d_h), inverse_terms(d_a))[0] == 0.0  # the flat part at 0 maps to 0
    biased = np.concatenate([d_h, d_a[:300]])  # "human" text with some AI-like sentences: c(0) > 0
    (c0,) = curve(biased, d_a, [0.0])
    assert c0 > 0 and inverse_curve(c0 / 2, inverse_terms(biased), inverse_terms(d_a))[0] == 0.0  # below c(0): clipped


def test_refit_bootstrap_adds_the_calibrations_noise(world, tmp_path):
    """With small reference corpora the curve is noisy: the interval that refits it is wider
    than the plain interval mapped through the fixed curve, and both bracket their midpoint."""
    from harness_plugins.llm_usage.corrected import refit_bootstrap

    human, ai = world.human(400), world.ai(200)
    cal = calibrate(chunks(human), chunks(ai), folds=3, seed=0)
    assert cal.has_ratios and len(cal.d_human) == 400 and len(cal.d_ai) == 200
    table = __import__("harness_plugins.llm_usage.fit", fromlist=["fit_sentences"]).fit_sentences(
        pa.array(human, type=pa.list_(pa.string())), pa.array(ai, type=pa.list_(pa.string())))
    from harness_plugins.llm_usage.likelihood import log_ratios
    from harness_plugins.llm_usage.mle import estimate_alpha

    d = log_ratios(table, [Chunk(pa.array(world.human(3600) + world.ai(400), type=pa.list_(pa.string())))])
    plain = estimate_alpha(d, n_bootstrap=400, seed=0)
    mapped = cal.correct_estimate(plain)
    refit = refit_bootstrap(d, cal.d_human, cal.d_ai, n_bootstrap=400, seed=0)
    assert refit.ci_low <= refit.alpha <= refit.ci_high
    assert refit.ci_high - refit.ci_low > 1.2 * (mapped.ci_high - mapped.ci_low)
    assert cal.corrected(d, plain, seed=0) == refit  # what validate and estimate report
    loaded = Calibration.load(cal.save(tmp_path / "t.calibration.json"))
    np.testing.assert_array_equal(loaded.d_human, cal.d_human)
    assert loaded.corrected(d, plain, seed=0) == refit


def test_held_out_recalibration_removes_a_shift_the_corrected_interval_cannot_see():
    """A residual bias shared by every mixture (the validation text differs from the reference
    corpora): corrected intervals miss the truth, leave-one-mixture-out recalibration covers it,
    and no mixture's own truth enters its own recalibration."""
    from harness_plugins.llm_usage.mle import Estimate
    from harness_plugins.llm_usage.validation import MixtureResult, held_out_recalibration, summarise

    rng = np.random.default_rng(0)
    alphas = np.linspace(0, 0.25, 11)
    results = []
    for a in alphas:
        c = 0.004 + 1.02 * a + rng.normal(0, 0.0005)  # biased upward, noise well inside the half-width
        est = Estimate(alpha=a + 0.02, ci_low=a + 0.018, ci_high=a + 0.022, mle=a + 0.02, n_sentences=1000, n_bootstrap=10)
        results.append(MixtureResult(float(a), est, Estimate(alpha=c, ci_low=c - 0.002, ci_high=c + 0.002, mle=c, n_sentences=1000, n_bootstrap=10)))
    summary = summarise(results)
    assert summary["coverage_corrected"] < 0.5
    assert summary["coverage_recalibrated"] >= 0.9 and summary["mae_recalibrated"] < summary["mae_corrected"] / 3
    assert held_out_recalibration(results[:3]) is None
    # leave-one-out: moving one mixture's truth leaves its own recalibrated estimate unchanged
    moved = list(results)
    moved[5] = MixtureResult(0.9, results[5].estimate, results[5].corrected)
    assert held_out_recalibration(moved)[5][0] == held_out_recalibration(results)[5][0]
