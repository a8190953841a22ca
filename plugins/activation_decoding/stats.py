"""Honest numbers: AUROC with a question-level bootstrap, and paired differences with intervals.

* :func:`auroc` is the Mann-Whitney statistic: the probability that a random positive scores
  above a random negative, ties counting one half, computed from mid-ranks (no sklearn).
* :func:`bootstrap_auroc` resamples *questions* (clusters), not answers: the answers of one
  question share its prompt and are not independent.
* :func:`paired_difference` compares two settings on the same questions: mean of the
  per-question differences, a seeded percentile-bootstrap interval and a t interval, and the
  numbers of questions that got better, worse or stayed equal.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np


def midranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n with tied values sharing the mean of their ranks."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    starts = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1]])
    ends = np.r_[starts[1:], len(x)]  # exclusive
    ranks = np.empty(len(x))
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return ranks


def auroc(scores: Sequence[float], labels: Sequence[int]) -> float:
    """P(score of a positive > score of a negative) + 0.5 P(tie); NaN without both classes."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels).astype(bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    if not np.all(np.isfinite(s)):
        raise ValueError("AUROC scores must be finite")
    rank_sum = midranks(s)[y].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def bootstrap_auroc(scores: Sequence[float], labels: Sequence[int], groups: Sequence[Any],
                    n_bootstrap: int = 1000, seed: int = 0, level: float = 0.95) -> dict[str, Any]:
    """AUROC and a percentile interval from resampling ``groups`` (questions) with replacement.

    A resample is a count per group, so its AUROC is the count-weighted Mann-Whitney statistic
    w_pos' G w_neg / (sum w_pos * sum w_neg) with G[i, j] = [s_i > s_j] + [s_i = s_j] / 2 over
    positive i and negative j: every resample from one matrix product, not one sort each
    (the same value as ranking the concatenated resample)."""
    s, y = np.asarray(scores, dtype=np.float64), np.asarray(labels).astype(int)
    if not np.all(np.isfinite(s)):
        raise ValueError("AUROC scores must be finite")
    keys, group_index = np.unique(np.asarray([str(g) for g in groups]), return_inverse=True)
    rng = np.random.default_rng(seed)
    counts = np.stack([np.bincount(rng.integers(0, len(keys), len(keys)), minlength=len(keys)) for _ in range(n_bootstrap)]) \
        if n_bootstrap > 0 else np.zeros((0, len(keys)))
    pos, neg = y.astype(bool), ~y.astype(bool)
    beats = (s[pos][:, None] > s[neg][None, :]) + 0.5 * (s[pos][:, None] == s[neg][None, :])
    w_pos, w_neg = counts[:, group_index[pos]].astype(np.float64), counts[:, group_index[neg]].astype(np.float64)
    denom = w_pos.sum(1) * w_neg.sum(1)
    reps = ((w_pos @ beats) * w_neg).sum(1)[denom > 0] / denom[denom > 0]
    tail = 100 * (1 - level) / 2
    low, high = (np.percentile(reps, [tail, 100 - tail]) if len(reps) else (math.nan, math.nan))
    return {"auroc": auroc(s, y), "ci_low": float(low), "ci_high": float(high), "level": level,
            "n_bootstrap": n_bootstrap, "seed": seed, "n_positive": int(y.sum()), "n_negative": int((1 - y).sum()),
            "n_groups": len(keys)}


def paired_difference(a: Sequence[float], b: Sequence[float], n_bootstrap: int = 2000, seed: int = 0,
                      level: float = 0.95) -> dict[str, Any]:
    """Mean of a_i - b_i over paired questions, with bootstrap and t intervals and win/loss counts."""
    from scipy import stats as sps

    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    n = len(diff)
    if n == 0:
        raise ValueError("a paired difference needs at least one question")
    counts = {"n": n, "wins": int((diff > 0).sum()), "losses": int((diff < 0).sum()), "ties": int((diff == 0).sum())}
    mean = float(diff.mean())
    if n < 2:  # no spread to estimate: the intervals are undefined
        nan = math.nan
        return {"mean": mean, "stderr": nan, "ci_low": nan, "ci_high": nan, "t_low": nan, "t_high": nan, "level": level,
                "n_bootstrap": 0, "seed": seed, **counts}
    se = float(diff.std(ddof=1) / math.sqrt(n))
    rng = np.random.default_rng(seed)
    boots = diff[rng.integers(0, n, size=(n_bootstrap, n))].mean(axis=1)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(boots, [tail, 100 - tail])
    t = float(sps.t.ppf(1 - (1 - level) / 2, n - 1))
    return {"mean": mean, "stderr": se, "ci_low": float(low), "ci_high": float(high),
            "t_low": mean - t * se, "t_high": mean + t * se, "level": level, "n_bootstrap": n_bootstrap, "seed": seed, **counts}
