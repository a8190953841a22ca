"""The mixture estimate of alpha, and its bootstrap interval.

With d_i = log Q(x_i) - log P(x_i), the mean log-likelihood of the mixture is

    L(alpha) = mean_i log[(1 - alpha) + alpha * exp(d_i)],

concave in alpha. Its derivative is L'(alpha) = mean_i 1 / (alpha + 1 / expm1(d_i)) (this
form never overflows: for huge d_i the term tends to 1/alpha, for d_i = 0 it is 0), and
L''(alpha) = -mean_i of the squared terms. The maximiser over [0, 1] is 0 when L'(0) <= 0,
1 when L'(1) >= 0, and otherwise the root of L', found by a safeguarded Newton iteration
inside a shrinking bracket (a bounded optimiser that converges to 1e-12 in a handful of
steps). The paper used scipy's L-BFGS-B on the same bounded objective; the maximiser is the
same.

Reported value (as in the paper): the midpoint of the 2.5-97.5 percentile interval of
``n_bootstrap`` re-fits on sentences resampled with replacement. Resampled fits are solved
many at a time (vectorised over blocks of bootstrap replicates).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

#: Work arrays of a block of bootstrap replicates stay below this many float64 values.
BLOCK_VALUES = 2_000_000


@dataclass
class Estimate:
    """alpha (interval midpoint), the percentile interval, and the plain full-sample MLE."""

    alpha: float
    ci_low: float
    ci_high: float
    mle: float
    n_sentences: int
    n_bootstrap: int

    def as_dict(self) -> dict:
        return asdict(self)


def inverse_terms(d: np.ndarray) -> np.ndarray:
    """1 / expm1(d): the per-sentence constant in L'(alpha) = mean 1 / (alpha + inv)."""
    with np.errstate(divide="ignore", over="ignore"):
        return 1.0 / np.expm1(np.asarray(d, dtype=np.float64))


def mean_log_likelihood(d: np.ndarray, alpha: float) -> float:
    """L(alpha), computed stably as logaddexp(log(1 - alpha), log(alpha) + d)."""
    d = np.asarray(d, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return float(np.mean(np.logaddexp(np.log1p(-alpha), np.log(alpha) + d)))


def solve(inv: np.ndarray, start: float = 0.5, tol: float = 1e-12, max_iter: int = 100, weights: np.ndarray | None = None) -> np.ndarray:
    """Maximise L over [0, 1] for each row of ``inv`` (shape (B, n), or (n,)); returns (B,).

    ``weights`` (shape (n,), shared by all rows) turns every mean into a weighted mean.

    ``start`` is the first Newton point (the full-sample MLE makes bootstrap re-fits converge
    in two or three steps); the bracket keeps every step inside [0, 1] whatever the start.
    """
    inv = np.atleast_2d(inv)
    if weights is None:
        mean = lambda a: a.mean(axis=1)  # noqa: E731
    else:
        w = np.asarray(weights, dtype=np.float64) / np.sum(weights)
        nonzero = w > 0
        inv, w = inv[:, nonzero], w[nonzero]  # 0 * inf terms must not turn into NaN
        mean = lambda a: np.einsum("ij,j->i", a, w)  # noqa: E731 - no BLAS: its threads thrash a busy machine
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        g0 = mean(1.0 / inv)  # L'(0) = mean expm1(d) (may be +inf: fine)
        # L'(1) = mean (1 - exp(-d)); inv == -1 only when exp(d) underflows: a -inf term.
        g1 = mean(np.where(inv == -1.0, -np.inf, 1.0 / (1.0 + inv)))
    alpha = np.where(g0 <= 0, 0.0, np.where(g1 >= 0, 1.0, np.nan))
    rows = np.flatnonzero(np.isnan(alpha))
    if len(rows) == 0:
        return alpha
    sub = inv if len(rows) == len(inv) else inv[rows]
    buffer = np.empty_like(sub)
    lo, hi = np.zeros(len(rows)), np.ones(len(rows))
    x = np.full(len(rows), min(max(start, 1e-6), 1 - 1e-6))
    active = np.arange(len(rows))  # rows of ``sub`` still iterating
    for _ in range(max_iter):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if len(active) == len(sub):
                t = np.add(sub, x[:, None], out=buffer)
            else:
                t = np.add(sub[active], x[active, None])
            np.reciprocal(t, out=t)
            g = mean(t)
            np.square(t, out=t)
            step = g / -mean(t)  # Newton: x - L'/L''
        xa = x[active]
        lo[active] = np.where(g > 0, xa, lo[active])
        hi[active] = np.where(g > 0, hi[active], xa)
        newton = xa - step
        ok = np.isfinite(newton) & (newton >= lo[active]) & (newton <= hi[active])
        x[active] = np.where(ok, newton, 0.5 * (lo[active] + hi[active]))
        converged = (ok & (np.abs(step) < tol)) | (hi[active] - lo[active] < tol)
        active = active[~converged]
        if len(active) == 0:
            break
    alpha[rows] = x
    return alpha


def fit_alpha(d: np.ndarray) -> float:
    """The maximum-likelihood alpha on the full sample."""
    return float(solve(inverse_terms(d))[0])


def bootstrap_alphas(d: np.ndarray, n_bootstrap: int = 1000, seed: int = 0, start: float | None = None) -> np.ndarray:
    """alpha re-fitted on ``n_bootstrap`` resamples (with replacement) of the sentences."""
    inv = inverse_terms(d)
    if start is None:
        start = float(solve(inv)[0])
    n = len(inv)
    rng = np.random.default_rng(seed)
    block = max(1, min(n_bootstrap, BLOCK_VALUES // max(n, 1)))
    out = np.empty(n_bootstrap)
    for first in range(0, n_bootstrap, block):
        size = min(block, n_bootstrap - first)
        resampled = inv[rng.integers(0, n, size=(size, n))]  # the index array is freed at once
        out[first : first + size] = solve(resampled, start=start)
    return out


def estimate_alpha(d: np.ndarray, n_bootstrap: int = 1000, seed: int = 0, level: float = 0.95) -> Estimate:
    """The paper's reported estimate: midpoint of the bootstrap percentile interval."""
    d = np.asarray(d, dtype=np.float64)
    if d.ndim != 1 or len(d) == 0:
        raise ValueError("cannot estimate alpha from an empty set of sentences")
    if not np.all(np.isfinite(d)):
        raise ValueError("log-likelihood ratios must be finite")
    mle = fit_alpha(d)
    if n_bootstrap <= 0:
        return Estimate(mle, mle, mle, mle, len(d), 0)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(bootstrap_alphas(d, n_bootstrap, seed, start=mle), [tail, 100 - tail])
    return Estimate(float((low + high) / 2), float(low), float(high), mle, len(d), n_bootstrap)
