"""A straightforward per-sentence Python implementation of the same method.

It is the baseline of ``tests/perf/bench_llm_usage.py`` and an independent oracle in the
tests: plain sets and dictionaries, log P(x) summed word by word over the *whole*
vocabulary for every sentence, and each bootstrap re-fit solved by scipy's bounded L-BFGS-B
from alpha = 0.5 (the structure of the paper's released code). Slow by design; never used
by the harness itself.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Iterable, Sequence

import numpy as np


def naive_fit(human: Iterable[Sequence[str]], ai: Iterable[Sequence[str]], min_human_count: int = 5, min_ai_count: int = 3) -> dict[str, tuple[float, float, float, float]]:
    """word -> (log p, log(1-p), log q, log(1-q)) for sentences given as word lists."""
    human = [set(s) for s in human if len(s) > 1]
    ai = [set(s) for s in ai if len(s) > 1]
    count_h = Counter(w for s in human for w in s)
    count_a = Counter(w for s in ai for w in s)
    table = {}
    for word, ch in count_h.items():
        ca = count_a.get(word, 0)
        if ch >= min_human_count and ca >= min_ai_count:
            p, q = ch / len(human), ca / len(ai)
            if p < 1 and q < 1:
                table[word] = (math.log(p), math.log(1 - p), math.log(q), math.log(1 - q))
    return table


def naive_log_likelihoods(table: dict[str, tuple[float, float, float, float]], sentences: Iterable[Sequence[str]]) -> tuple[list[float], list[float]]:
    """log P(x) and log Q(x) by the formula, one sentence and one vocabulary word at a time."""
    log_p, log_q = [], []
    for sentence in sentences:
        words = set(sentence)
        lp = lq = 0.0
        for word, (p, one_minus_p, q, one_minus_q) in table.items():
            if word in words:
                lp += p
                lq += q
            else:
                lp += one_minus_p
                lq += one_minus_q
        log_p.append(lp)
        log_q.append(lq)
    return log_p, log_q


def naive_bootstrap(log_p: Sequence[float], log_q: Sequence[float], n_bootstrap: int = 1000, seed: int = 0) -> tuple[float, float, float]:
    """(midpoint, 2.5 percentile, 97.5 percentile) of bootstrap L-BFGS-B fits."""
    from scipy.optimize import minimize

    ratio = np.exp(np.asarray(log_q) - np.asarray(log_p))
    rng = np.random.default_rng(seed)
    alphas = []
    for _ in range(n_bootstrap):
        sample = ratio[rng.integers(0, len(ratio), len(ratio))]

        def negative_ll(a: np.ndarray) -> float:
            return -float(np.mean(np.log((1 - a[0]) + a[0] * sample)))

        result = minimize(negative_ll, x0=[0.5], method="L-BFGS-B", bounds=[(0.0, 1.0)])
        alphas.append(float(result.x[0]))
    low, high = np.percentile(alphas, [2.5, 97.5])
    return float((low + high) / 2), float(low), float(high)
