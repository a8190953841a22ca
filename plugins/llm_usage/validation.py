"""Validation on mixtures with a known AI fraction.

A mixture of ``size`` sentences with fraction alpha takes round(alpha * size) sentences of a
held-out AI corpus and the rest from a held-out human corpus, drawn without replacement
(seeded). Since the estimator only sees d = log Q - log P per sentence, mixtures are drawn
from the two corpora's d vectors, which are computed once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from harness_plugins.llm_usage.calibration import Calibration
from harness_plugins.llm_usage.mle import Estimate, estimate_alpha


@dataclass
class MixtureResult:
    """One mixture: the truth, the plain estimate, and the corrected one when calibrated."""

    true_alpha: float
    estimate: Estimate
    corrected: Estimate | None = None

    @property
    def error(self) -> float:
        return self.estimate.alpha - self.true_alpha

    @property
    def corrected_error(self) -> float | None:
        return None if self.corrected is None else self.corrected.alpha - self.true_alpha

    def as_dict(self) -> dict:
        out = {"true_alpha": self.true_alpha, **{k: v for k, v in asdict(self.estimate).items()}, "error": self.error}
        if self.corrected is not None:
            out.update({"corrected_alpha": self.corrected.alpha, "corrected_ci_low": self.corrected.ci_low,
                        "corrected_ci_high": self.corrected.ci_high, "corrected_error": self.corrected_error})
        return out


def largest_mixture(n_human: int, n_ai: int, alphas: Sequence[float]) -> int:
    """The largest size for which every mixture of ``alphas`` can be drawn without replacement."""
    size = 10**12
    for a in alphas:
        if a < 1:
            size = min(size, int(n_human / (1 - a)))
        if a > 0:
            size = min(size, int(n_ai / a))
    while size > 0 and any(round(a * size) > n_ai or size - round(a * size) > n_human for a in alphas):
        size -= 1
    return size


def draw_mixture(d_human: np.ndarray, d_ai: np.ndarray, alpha: float, size: int, rng: np.random.Generator) -> np.ndarray:
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    n_ai = round(alpha * size)
    if n_ai > len(d_ai) or size - n_ai > len(d_human):
        raise ValueError(f"a mixture of {size} sentences at alpha={alpha} needs {size - n_ai} human and {n_ai} AI sentences; "
                         f"only {len(d_human)} and {len(d_ai)} are available (lower --size)")
    return np.concatenate([rng.choice(d_human, size - n_ai, replace=False), rng.choice(d_ai, n_ai, replace=False)])


def validate_mixtures(
    d_human: np.ndarray,
    d_ai: np.ndarray,
    alphas: Sequence[float],
    size: int | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    calibration: Calibration | None = None,
) -> list[MixtureResult]:
    """Estimate alpha on one drawn mixture per requested alpha."""
    size = size or largest_mixture(len(d_human), len(d_ai), alphas)
    if size < 2:
        raise ValueError(f"the held-out corpora ({len(d_human)} human, {len(d_ai)} AI sentences) are too small for these mixtures")
    results = []
    for j, alpha in enumerate(alphas):
        rng = np.random.default_rng([seed, j])
        mixture = draw_mixture(d_human, d_ai, float(alpha), size, rng)
        results.append(estimate_mixture(mixture, float(alpha), n_bootstrap, seed, calibration))
    return results


def estimate_mixture(d: np.ndarray, alpha: float, n_bootstrap: int, seed: int, calibration: Calibration | None) -> MixtureResult:
    est = estimate_alpha(d, n_bootstrap=n_bootstrap, seed=seed)
    return MixtureResult(alpha, est, calibration.corrected(d, est, seed) if calibration is not None else None)


def summarise(results: Sequence[MixtureResult]) -> dict[str, float]:
    """Mean and max absolute error, interval coverage (share of intervals holding the true
    alpha) and mean interval width, for the plain and (when calibrated) the corrected estimate."""
    out: dict[str, float] = {}
    errors = np.array([r.error for r in results])
    out["mae"] = float(np.mean(np.abs(errors)))
    out["max_abs_error"] = float(np.max(np.abs(errors)))
    out["coverage"] = float(np.mean([r.estimate.ci_low <= r.true_alpha <= r.estimate.ci_high for r in results]))
    out["width"] = float(np.mean([r.estimate.ci_high - r.estimate.ci_low for r in results]))
    if all(r.corrected is not None for r in results):
        corrected = np.array([r.corrected_error for r in results])
        out["mae_corrected"] = float(np.mean(np.abs(corrected)))
        out["max_abs_error_corrected"] = float(np.max(np.abs(corrected)))
        out["coverage_corrected"] = float(np.mean([r.corrected.ci_low <= r.true_alpha <= r.corrected.ci_high for r in results]))
        out["width_corrected"] = float(np.mean([r.corrected.ci_high - r.corrected.ci_low for r in results]))
        recal = held_out_recalibration(results)
        if recal is not None:
            inside = [lo <= r.true_alpha <= hi for r, (_, lo, hi) in zip(results, recal)]
            out["coverage_recalibrated"] = float(np.mean(inside))
            out["width_recalibrated"] = float(np.mean([hi - lo for _, lo, hi in recal]))
            out["mae_recalibrated"] = float(np.mean([abs(a - r.true_alpha) for r, (a, _, _) in zip(results, recal)]))
    return out


def held_out_recalibration(results: Sequence[MixtureResult], z: float = 1.96) -> list[tuple[float, float, float]] | None:
    """Leave-one-mixture-out recalibration of the corrected estimate on *labelled* mixtures.

    For mixture i, fit true = c0 + c1 * corrected on the other mixtures (least squares), map
    mixture i's corrected estimate through it, and widen its interval by the fit's residual
    spread: half-width sqrt((c1 * h_i)^2 + (z * s)^2) with h_i the corrected half-width and s
    the residual standard deviation (n - 2 degrees of freedom). This measures the shift between
    the reference corpora and the target's text on text like the target, which the plain and
    corrected intervals cannot; it needs labelled mixtures of the target field (the paper's
    validation sets are such), so it is reported beside them, never instead. None with fewer
    than 4 mixtures.
    """
    if len(results) < 4 or any(r.corrected is None for r in results):
        return None
    x = np.array([r.corrected.alpha for r in results])
    y = np.array([r.true_alpha for r in results])
    half = np.array([(r.corrected.ci_high - r.corrected.ci_low) / 2 for r in results])
    out = []
    for i in range(len(results)):
        keep = np.arange(len(results)) != i
        c1, c0 = np.polyfit(x[keep], y[keep], 1)
        resid = y[keep] - (c0 + c1 * x[keep])
        s = float(np.sqrt(np.sum(resid**2) / max(1, keep.sum() - 2)))
        point = float(np.clip(c0 + c1 * x[i], 0.0, 1.0))
        width = float(np.sqrt((c1 * half[i]) ** 2 + (z * s) ** 2))
        out.append((point, max(0.0, point - width), min(1.0, point + width)))
    return out
