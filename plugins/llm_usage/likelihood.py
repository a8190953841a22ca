"""Per-sentence log-likelihoods as sparse matrix-vector products.

A chunk of sentences becomes a binary CSR matrix X (sentences x vocabulary, X_it = 1 when
word t occurs in sentence i). Since

    log P(x) = sum_{t in x} log p_t + sum_{t in V \\ x} log(1 - p_t)
             = sum_t log(1 - p_t) + sum_{t in x} [log p_t - log(1 - p_t)],

all sentences' log P is one product ``X @ (log p - log(1-p)) + sum(log(1-p))``, likewise
log Q, and the only thing the mixture estimator needs, log Q(x) - log P(x), is a single
product with the difference of the two weight vectors.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from harness_plugins.llm_usage.corpus import Chunk, list_rows
from harness_plugins.llm_usage.table import WordTable


def distinct_keys(keys: np.ndarray) -> np.ndarray:
    """Sorted distinct values (``np.unique`` without its overhead, ~50x faster on numpy 2.4)."""
    keys = np.sort(keys)
    if len(keys) == 0:
        return keys
    return keys[np.concatenate(([True], keys[1:] != keys[:-1]))]


class SentenceEncoder:
    """Turns Arrow list<string> sentences into binary CSR matrices over a fixed vocabulary."""

    def __init__(self, words: list[str]):
        import pyarrow as pa

        self.words = list(words)
        self._value_set = pa.array(self.words, type=pa.string())

    def transform(self, sentences) -> "scipy.sparse.csr_matrix":  # noqa: F821
        import pyarrow.compute as pc
        from scipy import sparse

        n = len(sentences)
        flat = pc.list_flatten(sentences)
        ids = pc.index_in(flat, value_set=self._value_set)
        known = pc.is_valid(ids).to_numpy(zero_copy_only=False)
        cols = pc.drop_null(ids).to_numpy().astype(np.int64)
        rows = list_rows(sentences)[known].astype(np.int64)
        # Set semantics: a word counts once per sentence however often it occurs.
        key = distinct_keys(rows * len(self.words) + cols)
        rows, cols = np.divmod(key, len(self.words))
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
        data = np.ones(len(cols), dtype=np.float64)
        return sparse.csr_matrix((data, cols, indptr), shape=(n, len(self.words)))


def log_likelihoods(table: WordTable, chunks: Iterable[Chunk]) -> tuple[np.ndarray, np.ndarray]:
    """``(log P(x_i), log Q(x_i))`` for every sentence of ``chunks`` (mainly for checks)."""
    encoder = SentenceEncoder(table.words)
    wp, cp = table.log_p - table.log_1mp, float(np.sum(table.log_1mp))
    wq, cq = table.log_q - table.log_1mq, float(np.sum(table.log_1mq))
    out_p, out_q = [], []
    for chunk in chunks:
        x = encoder.transform(chunk.sentences)
        out_p.append(x @ wp + cp)
        out_q.append(x @ wq + cq)
    return np.concatenate(out_p), np.concatenate(out_q)


def log_ratios(table: WordTable, chunks: Iterable[Chunk], with_groups: bool = False):
    """log Q(x_i) - log P(x_i) per sentence, streamed chunk by chunk (8 bytes per sentence
    are kept; the sentences themselves are not). With ``with_groups``, also the group labels."""
    encoder = SentenceEncoder(table.words)
    w, c = table.ratio_weights()
    parts: list[np.ndarray] = []
    groups: list[str] = []
    for chunk in chunks:
        parts.append(encoder.transform(chunk.sentences) @ w + c)
        if with_groups:
            groups.extend(chunk.groups or [""] * len(chunk))
    d = np.concatenate(parts) if parts else np.zeros(0)
    return (d, groups) if with_groups else d
