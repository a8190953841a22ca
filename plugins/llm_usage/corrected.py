"""An interval for the bias-corrected estimate: a bootstrap that refits the calibration too.

The calibration curve c(alpha) is the large-sample estimate on a mixture of the reference
corpora's cross-fitted sentences (:mod:`harness_plugins.llm_usage.calibration`): the maximiser of
(1 - alpha) L_H(a) + alpha L_A(a). At its maximiser the derivative vanishes,
(1 - alpha) G_H(a) + alpha G_A(a) = 0 with G_X(a) = mean_{i in X} 1 / (a + 1 / expm1(d_i)),
so the curve has an exact inverse:

    c^-1(a) = G_H(a) / (G_H(a) - G_A(a))      (0 when G_H(a) >= 0 or a = 0, 1 when G_A(a) <= 0)

One pass over the reference ratios, no grid. The corrected estimate is c^-1(alpha-hat).
Its bootstrap resamples, in every replicate, both the target corpus's sentences (alpha-hat
re-fitted, the same replicates as the plain interval) and the reference sentences of H and A
(the curve re-fitted), so the interval carries the calibration's own sampling noise, which
mapping the plain interval through a fixed curve leaves out. The word table itself is not
re-fitted per replicate (its noise enters only through the cross-fitted ratios).
"""

from __future__ import annotations

import numpy as np

from harness_plugins.llm_usage.mle import BLOCK_VALUES, Estimate, bootstrap_alphas, fit_alpha, inverse_terms


def inverse_curve(alpha_hat: np.ndarray | float, inv_human: np.ndarray, inv_ai: np.ndarray) -> np.ndarray:
    """c^-1(alpha_hat) per row: ``inv_*`` are 1 / expm1(d) of shape (n,) or (B, n), ``alpha_hat`` (B,)."""
    a = np.atleast_1d(np.asarray(alpha_hat, dtype=np.float64))
    g_h = _mean_derivative(a, np.atleast_2d(inv_human))
    g_a = _mean_derivative(a, np.atleast_2d(inv_ai))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = g_h / (g_h - g_a)
    # alpha-hat = 0 sits on the flat part of the curve (every alpha up to c^-1(0+) gives 0): report 0.
    out = np.where((g_h >= 0) | (a <= 0), 0.0, np.where(g_a <= 0, 1.0, ratio))
    return np.clip(np.nan_to_num(out, nan=0.0), 0.0, 1.0)


def _mean_derivative(a: np.ndarray, inv: np.ndarray) -> np.ndarray:
    """mean_i 1 / (a_b + inv_bi) for each row b (rows broadcast when ``inv`` has one)."""
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        return np.mean(1.0 / (a[:, None] + inv), axis=1)


def refit_bootstrap(
    d: np.ndarray,
    d_human: np.ndarray,
    d_ai: np.ndarray,
    n_bootstrap: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> Estimate:
    """Corrected estimate (midpoint of the percentile interval, as the plain estimate) whose
    bootstrap resamples the target sentences ``d`` and the reference ratios ``d_human``/``d_ai``."""
    d = np.asarray(d, dtype=np.float64)
    if d.ndim != 1 or len(d) == 0:
        raise ValueError("cannot estimate alpha from an empty set of sentences")
    inv_h, inv_a = inverse_terms(d_human), inverse_terms(d_ai)
    if len(inv_h) == 0 or len(inv_a) == 0:
        raise ValueError("the calibration holds no reference ratios to resample")
    mle = fit_alpha(d)
    corrected_mle = float(inverse_curve(mle, inv_h, inv_a)[0])
    if n_bootstrap <= 0:
        return Estimate(corrected_mle, corrected_mle, corrected_mle, corrected_mle, len(d), 0)
    alphas = bootstrap_alphas(d, n_bootstrap, seed, start=mle)  # the plain interval's own replicates
    rng = np.random.default_rng([seed, 1])
    block = max(1, min(n_bootstrap, BLOCK_VALUES // max(len(inv_h), len(inv_a))))
    corrected = np.empty(n_bootstrap)
    for first in range(0, n_bootstrap, block):
        size = min(block, n_bootstrap - first)
        rows = slice(first, first + size)
        resampled_h = inv_h[rng.integers(0, len(inv_h), size=(size, len(inv_h)))]
        resampled_a = inv_a[rng.integers(0, len(inv_a), size=(size, len(inv_a)))]
        corrected[rows] = inverse_curve(alphas[rows], resampled_h, resampled_a)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(corrected, [tail, 100 - tail])
    return Estimate(float((low + high) / 2), float(low), float(high), corrected_mle, len(d), n_bootstrap)
