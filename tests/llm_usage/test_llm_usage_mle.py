"""The bounded MLE, its bootstrap, and recovery of a known alpha on synthetic Bernoulli data."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from harness_plugins.llm_usage.corpus import Chunk
from harness_plugins.llm_usage.fit import fit_sentences
from harness_plugins.llm_usage.likelihood import log_ratios
from harness_plugins.llm_usage.mle import bootstrap_alphas, estimate_alpha, fit_alpha, inverse_terms, mean_log_likelihood, solve
from harness_plugins.llm_usage.naive import naive_bootstrap


def arr(sentences):
    return pa.array(sentences, type=pa.list_(pa.string()))


def oracle_alpha(d):
    """scipy's bounded scalar minimiser on the plain objective (an independent solver)."""
    from scipy.optimize import minimize_scalar

    res = minimize_scalar(lambda a: -mean_log_likelihood(d, a), bounds=(0, 1), method="bounded", options={"xatol": 1e-10})
    return res.x


@pytest.mark.parametrize("seed", range(4))
def test_solver_finds_the_maximiser_of_the_objective(seed):
    rng = np.random.default_rng(seed)
    n = 2000
    d = np.where(rng.random(n) < rng.uniform(0.02, 0.6), rng.normal(2, 2, n), rng.normal(-2, 2, n))
    alpha = fit_alpha(d)
    assert alpha == pytest.approx(oracle_alpha(d), abs=1e-6)
    assert mean_log_likelihood(d, alpha) >= mean_log_likelihood(d, oracle_alpha(d)) - 1e-12
    # First-order condition at an interior optimum: L'(alpha) = mean 1/(alpha + 1/expm1(d)) = 0.
    assert abs(np.mean(1 / (alpha + inverse_terms(d)))) < 1e-9


def test_bounds_are_respected_and_extremes_do_not_overflow():
    assert fit_alpha(np.full(100, -3.0)) == 0.0  # every sentence looks human
    assert fit_alpha(np.full(100, 3.0)) == 1.0  # every sentence looks AI
    extreme = np.concatenate([np.full(90, -800.0), np.full(10, 800.0)])  # exp() under/overflows
    assert fit_alpha(extreme) == pytest.approx(0.1, abs=1e-9)
    assert fit_alpha(np.zeros(50)) == 0.0  # a flat objective: the lower bound
    with pytest.raises(ValueError, match="empty"):
        estimate_alpha(np.array([]))


def test_weighted_solve_equals_replicated_data():
    rng = np.random.default_rng(3)
    d = rng.normal(-1, 2, 300)
    counts = rng.integers(0, 4, 300)
    replicated = np.repeat(d, counts)
    assert solve(inverse_terms(d), weights=counts.astype(float))[0] == pytest.approx(fit_alpha(replicated), abs=1e-10)


def test_vectorised_bootstrap_matches_the_naive_lbfgsb_loop():
    rng = np.random.default_rng(7)
    n = 1000
    log_p = rng.normal(-40, 5, n)
    log_q = log_p + np.where(rng.random(n) < 0.15, rng.normal(2.5, 1.5, n), rng.normal(-2.5, 1.5, n))
    mid, low, high = naive_bootstrap(log_p, log_q, n_bootstrap=40, seed=11)
    ours = bootstrap_alphas(log_q - log_p, n_bootstrap=40, seed=11)  # same resamples, same seed
    naive_low, naive_high = np.percentile(ours, [2.5, 97.5])
    assert naive_low == pytest.approx(low, abs=2e-4) and naive_high == pytest.approx(high, abs=2e-4)
    est = estimate_alpha(log_q - log_p, n_bootstrap=40, seed=11)
    assert est.alpha == pytest.approx(mid, abs=2e-4) and est.ci_low <= est.mle <= est.ci_high


def test_bootstrap_blocks_do_not_change_the_result(monkeypatch):
    import harness_plugins.llm_usage.mle as mle

    d = np.random.default_rng(1).normal(-1, 2, 500)
    whole = bootstrap_alphas(d, n_bootstrap=50, seed=3)
    monkeypatch.setattr(mle, "BLOCK_VALUES", 1200)  # blocks of 2 replicates
    np.testing.assert_allclose(bootstrap_alphas(d, n_bootstrap=50, seed=3), whole, atol=1e-12)


@pytest.mark.parametrize("true_alpha", [0.0, 0.1, 0.3])
def test_estimator_recovers_alpha_on_synthetic_bernoulli_data(world, true_alpha):
    """Fit on one sample of the world, estimate on a fresh mixture: the truth lies in the interval."""
    table = fit_sentences(arr(world.human(3000)), arr(world.ai(3000)))
    n = 4000
    n_ai = int(round(true_alpha * n))
    mixture = world.human(n - n_ai) + world.ai(n_ai)
    est = estimate_alpha(log_ratios(table, [Chunk(arr(mixture))]), n_bootstrap=300, seed=0)
    assert est.ci_low <= true_alpha <= est.ci_high, est
    assert abs(est.alpha - true_alpha) < 0.03
    assert est.ci_high - est.ci_low < 0.06
