"""Fit the word table from a human corpus H and an AI corpus A (streamed).

p_t = (number of H's sentences containing t) / (number of H's sentences), q_t likewise in A.
Vocabulary: count_H(t) >= 5 and count_A(t) >= 3 (sentence counts), optionally intersected
with a restricted word list, then words whose log-odds is infinite or undefined (p or q
equal to 1) are dropped. :class:`WordDistribution` is a scikit-learn-style estimator:
``fit(human_chunks, ai_chunks)`` then ``transform(chunks)`` -> log Q(x) - log P(x).
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable

import numpy as np

from harness_plugins.llm_usage.corpus import Chunk, list_rows
from harness_plugins.llm_usage.likelihood import distinct_keys
from harness_plugins.llm_usage.table import WordTable


class SentenceCounts:
    """In how many sentences each word occurs, accumulated chunk by chunk."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.n_sentences = 0

    def add(self, sentences) -> SentenceCounts:
        import pyarrow.compute as pc

        if len(sentences) == 0:
            return self
        encoded = pc.dictionary_encode(pc.list_flatten(sentences))
        codes = encoded.indices.to_numpy().astype(np.int64)
        rows = list_rows(sentences).astype(np.int64)
        n_words = len(encoded.dictionary)
        distinct = distinct_keys(rows * n_words + codes) % n_words  # one per (sentence, word)
        per_word = np.bincount(distinct, minlength=n_words)
        for word, count in zip(encoded.dictionary.to_pylist(), per_word.tolist()):
            self.counts[word] += count
        self.n_sentences += len(sentences)
        return self

    def add_chunks(self, chunks: Iterable[Chunk]) -> SentenceCounts:
        for chunk in chunks:
            self.add(chunk.sentences)
        return self


def table_from_counts(
    human: SentenceCounts,
    ai: SentenceCounts,
    min_human_count: int = 5,
    min_ai_count: int = 3,
    restrict_to: set[str] | None = None,
) -> WordTable:
    """Apply the vocabulary rule and compute the four log-probability columns."""
    if human.n_sentences == 0 or ai.n_sentences == 0:
        raise ValueError("cannot fit a word table: the human or the AI corpus has no sentences")
    words = [w for w, c in human.counts.items() if c >= min_human_count and ai.counts.get(w, 0) >= min_ai_count]
    if restrict_to is not None:
        words = [w for w in words if w in restrict_to]
    p = np.array([human.counts[w] for w in words], dtype=np.float64) / human.n_sentences
    q = np.array([ai.counts[w] for w in words], dtype=np.float64) / ai.n_sentences
    with np.errstate(divide="ignore"):
        columns = [np.log(p), np.log1p(-p), np.log(q), np.log1p(-q)]
    finite = np.logical_and.reduce([np.isfinite(c) for c in columns])  # drops p == 1 or q == 1
    # Most frequent human words first (ties by word), a stable and readable order.
    order = sorted(np.flatnonzero(finite).tolist(), key=lambda i: (-human.counts[words[i]], words[i]))
    info = {
        "n_human_sentences": human.n_sentences,
        "n_ai_sentences": ai.n_sentences,
        "min_human_count": min_human_count,
        "min_ai_count": min_ai_count,
        "dropped_infinite_log_odds": [words[i] for i in np.flatnonzero(~finite)],
    }
    if not order:
        raise ValueError(
            f"no word passes the vocabulary rule (count_H >= {min_human_count}, count_A >= {min_ai_count}"
            f"{', restricted word list' if restrict_to is not None else ''}); the corpora are too small or too different"
        )
    return WordTable([words[i] for i in order], *(c[order] for c in columns), info=info)


class WordDistribution:
    """Fit the human/AI word distributions; transform sentences to log Q(x) - log P(x)."""

    def __init__(self, min_human_count: int = 5, min_ai_count: int = 3, restrict_to: set[str] | None = None):
        self.min_human_count = min_human_count
        self.min_ai_count = min_ai_count
        self.restrict_to = restrict_to

    def fit(self, human_chunks: Iterable[Chunk], ai_chunks: Iterable[Chunk]) -> WordDistribution:
        self.human_counts_ = SentenceCounts().add_chunks(human_chunks)
        self.ai_counts_ = SentenceCounts().add_chunks(ai_chunks)
        self.table_ = table_from_counts(self.human_counts_, self.ai_counts_, self.min_human_count, self.min_ai_count, self.restrict_to)
        return self

    def transform(self, chunks: Iterable[Chunk]) -> np.ndarray:
        from harness_plugins.llm_usage.likelihood import log_ratios

        return log_ratios(self.table_, chunks)


def fit_sentences(human, ai, **kwargs) -> WordTable:
    """Fit from in-memory Arrow list arrays (one chunk each)."""
    return WordDistribution(**kwargs).fit([Chunk(human)], [Chunk(ai)]).table_
