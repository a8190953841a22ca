"""Bias correction (beyond the paper): calibrate alpha-hat against known mixtures.

The plain estimate is biased upwards at small alpha (2-3 points on the paper's validation
sets, e.g. 0.025 at alpha = 0 for CS): sentences are not bags of independent words, so the
fitted P and Q are misspecified, and a human sentence looks a little AI-like on average.
The bias is a property of the word table and of the two reference corpora, so it can be
measured on them:

1. Cross-fitting: split H and A into ``folds`` parts (sentence i goes to fold i mod folds
   after a seeded shuffle); for each fold, fit the table on the other folds and compute
   d = log Q - log P for the held-out fold's sentences. Every reference sentence then has
   an out-of-sample d, as a new corpus's sentences would.
2. The calibration curve: for each true alpha on a grid, the estimate the estimator
   converges to on a mixture of those held-out sentences, i.e. the maximiser of
   (1 - alpha) * mean_H l(a) + alpha * mean_A l(a). This weighted fit is the large-sample
   limit of the mixture estimate, so the curve has no sampling noise.
3. Correction: corrected = curve^-1(alpha-hat) by monotone linear interpolation (clipped to
   [0, 1]); the interval's ends are mapped the same way, and the corrected value is the
   midpoint of the mapped interval, as for the plain estimate.

It corrects the bias that comes from the method itself; it cannot correct for a target
corpus whose human text differs from H (or AI text from A). The corrected interval comes
from a bootstrap that refits the curve too (:mod:`harness_plugins.llm_usage.corrected`, which uses
the exact inverse of the curve); a calibration saved without its ratios falls back to
mapping the plain interval through the fixed curve. Memory: one float per reference sentence plus the per-fold word
counts; the corpora are streamed twice.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from harness_plugins.llm_usage.corpus import Chunk
from harness_plugins.llm_usage.fit import SentenceCounts, table_from_counts
from harness_plugins.llm_usage.likelihood import SentenceEncoder
from harness_plugins.llm_usage.mle import Estimate, inverse_terms, solve

DEFAULT_GRID = tuple(np.round(np.linspace(0.0, 1.0, 41), 4).tolist())


@dataclass
class Calibration:
    """``expected[j]``: the estimate expected when the true fraction is ``alphas[j]``."""

    alphas: list[float]
    expected: list[float]
    folds: int = 5
    info: dict[str, Any] = field(default_factory=dict)
    #: The cross-fitted ratios the curve came from; the corrected interval resamples them
    #: (:mod:`harness_plugins.llm_usage.corrected`). Saved beside the JSON as ``.npz``.
    d_human: np.ndarray | None = field(default=None, compare=False, repr=False)
    d_ai: np.ndarray | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.alphas) != len(self.expected) or len(self.alphas) < 2:
            raise ValueError("calibration needs matching alphas/expected lists of at least two points")
        if any(b <= a for a, b in zip(self.alphas, self.alphas[1:])):
            raise ValueError("calibration alphas must be strictly increasing")

    def correct(self, alpha_hat: float | np.ndarray) -> float | np.ndarray:
        """Invert the curve (made non-decreasing first); clipped to [alphas[0], alphas[-1]]."""
        expected = np.maximum.accumulate(np.asarray(self.expected, dtype=np.float64))
        out = np.interp(alpha_hat, expected, np.asarray(self.alphas, dtype=np.float64))
        return float(out) if np.ndim(out) == 0 else out

    def correct_estimate(self, est: Estimate) -> Estimate:
        """The plain interval mapped through the fixed curve (no calibration noise)."""
        low, high = self.correct(est.ci_low), self.correct(est.ci_high)
        return Estimate((low + high) / 2, low, high, self.correct(est.mle), est.n_sentences, est.n_bootstrap)

    @property
    def has_ratios(self) -> bool:
        return self.d_human is not None and self.d_ai is not None and len(self.d_human) > 0 and len(self.d_ai) > 0

    def corrected(self, d: np.ndarray, est: Estimate, seed: int = 0) -> Estimate:
        """The corrected estimate of sentences ``d`` whose plain estimate is ``est``: the bootstrap
        that refits the calibration when the reference ratios are known, else the mapped interval."""
        if not self.has_ratios:
            return self.correct_estimate(est)
        from harness_plugins.llm_usage.corrected import refit_bootstrap

        return refit_bootstrap(d, self.d_human, self.d_ai, n_bootstrap=est.n_bootstrap, seed=seed)

    def error_at(self, alpha: float) -> float:
        """The plain estimator's bias at ``alpha`` (interpolated on the curve)."""
        return float(np.interp(alpha, self.alphas, self.expected) - alpha)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        data = {k: v for k, v in asdict(self).items() if k not in ("d_human", "d_ai")}
        if self.has_ratios:
            np.savez_compressed(ratios_path(path), d_human=self.d_human, d_ai=self.d_ai)
            data["info"] = {**data["info"], "ratios": ratios_path(path).name}
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> Calibration:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            cal = cls(alphas=[float(a) for a in data["alphas"]], expected=[float(e) for e in data["expected"]],
                      folds=int(data.get("folds", 0)), info=dict(data.get("info", {})))
        except FileNotFoundError:
            raise ValueError(f"{path}: calibration file not found") from None
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise ValueError(f"{path}: not a calibration file (expected JSON with 'alphas' and 'expected': {err})") from None
        if "ratios" in cal.info:
            try:
                with np.load(path.parent / cal.info["ratios"]) as arrays:
                    cal.d_human, cal.d_ai = arrays["d_human"], arrays["d_ai"]
            except (OSError, KeyError, ValueError) as err:
                raise ValueError(f"{path}: cannot read its reference ratios {cal.info['ratios']!r} ({err})") from None
        return cal


def ratios_path(calibration_json: str | Path) -> Path:
    """Where a calibration's cross-fitted reference ratios are stored: beside its JSON."""
    return Path(calibration_json).with_suffix(".npz")


def calibration_path(table_path: str | Path) -> Path:
    """Where ``fit --calibrate`` stores the calibration of a table: beside it."""
    return Path(table_path).with_suffix(".calibration.json")


def curve(d_human: np.ndarray, d_ai: np.ndarray, grid: Iterable[float] = DEFAULT_GRID) -> list[float]:
    """The large-sample estimate at each true alpha of ``grid`` (weighted fits)."""
    inv = inverse_terms(np.concatenate([d_human, d_ai]))
    out = []
    for alpha in grid:
        weights = np.concatenate([np.full(len(d_human), (1 - alpha) / len(d_human)), np.full(len(d_ai), alpha / len(d_ai))])
        out.append(float(solve(inv, weights=weights)[0]))
    return out


def _fold_of(n: int, folds: int, rng: np.random.Generator) -> np.ndarray:
    return rng.permutation(n) % folds


def cross_fit_ratios(
    human: Callable[[], Iterable[Chunk]],
    ai: Callable[[], Iterable[Chunk]],
    folds: int = 5,
    seed: int = 0,
    **fit_kwargs: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold d = log Q - log P for every sentence of H and of A.

    ``human`` and ``ai`` return fresh chunk iterators (each corpus is read twice). Folds are
    assigned per sentence by a seeded shuffle within each chunk.
    """
    if folds < 2:
        raise ValueError("cross-fitting needs at least 2 folds")
    out = []
    per_fold = {}
    for name, source in (("human", human), ("ai", ai)):
        counts = [SentenceCounts() for _ in range(folds)]
        rng = np.random.default_rng([seed, name == "ai"])
        for chunk in source():
            fold = _fold_of(len(chunk), folds, rng)
            for k in range(folds):
                counts[k].add(chunk.sentences.filter(_mask(fold == k)))
        per_fold[name] = counts
    tables = []
    for k in range(folds):
        tables.append(table_from_counts(_all_but(per_fold["human"], k), _all_but(per_fold["ai"], k), **fit_kwargs))
    for name, source in (("human", human), ("ai", ai)):
        rng = np.random.default_rng([seed, name == "ai"])  # replays the same fold assignment
        parts = []
        for chunk in source():
            fold = _fold_of(len(chunk), folds, rng)
            d = np.empty(len(chunk))
            for k, table in enumerate(tables):
                rows = np.flatnonzero(fold == k)
                w, c = table.ratio_weights()
                d[rows] = SentenceEncoder(table.words).transform(chunk.sentences.take(rows)) @ w + c
            parts.append(d)
        out.append(np.concatenate(parts))
    return out[0], out[1]


def _mask(values: np.ndarray) -> Any:
    import pyarrow as pa

    return pa.array(values)


def _all_but(counts: list[SentenceCounts], k: int) -> SentenceCounts:
    total = SentenceCounts()
    for j, c in enumerate(counts):
        if j != k:
            total.counts.update(c.counts)
            total.n_sentences += c.n_sentences
    return total


def calibrate(
    human: Callable[[], Iterable[Chunk]],
    ai: Callable[[], Iterable[Chunk]],
    folds: int = 5,
    seed: int = 0,
    grid: Iterable[float] = DEFAULT_GRID,
    **fit_kwargs: Any,
) -> Calibration:
    """Cross-fit on the reference corpora and compute the calibration curve."""
    d_human, d_ai = cross_fit_ratios(human, ai, folds=folds, seed=seed, **fit_kwargs)
    grid = [float(a) for a in grid]
    return Calibration(alphas=grid, expected=curve(d_human, d_ai, grid), folds=folds,
                       info={"n_human_sentences": len(d_human), "n_ai_sentences": len(d_ai), "seed": seed},
                       d_human=d_human, d_ai=d_ai)
