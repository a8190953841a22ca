"""Prompt-lookup drafts for greedy decoding: guesses of a row's next tokens, checked in one forward.

Greedy text often copies its context: a MeLLo step repeats its subquestion's words in its
answer and the demonstrations' "Generated answer: ... According to ..." scaffolding. The newest
``n`` tokens of a row (``n`` from ``max_ngram`` down to 1) are looked up in the row's prompt and
output; the tokens that followed their latest earlier occurrence are the draft. The decode loop
(:func:`harness.whitebox.decode.decode`) feeds the chosen token and its draft in one forward and
keeps the draft's longest prefix that greedy decoding would have picked anyway, so the output is
greedy decoding's own (up to floating-point near-ties, since a block forward rounds differently
from single-token ones). On a CPU one forward of a 135M model costs about the same for 1 to 8
new tokens (it is bound by reading the weights), so every accepted draft token is nearly free.

Rejected draft columns stay in the KV cache, masked out like padding; position ids count real
tokens only, so the rows see exactly their own sequences.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

#: Draft length used by the transformers adapter unless ``prompt_lookup=`` says otherwise (the
#: MeLLo transcripts accept 3.9 tokens per forward at 8; see docs/performance.md).
DEFAULT_DRAFT_TOKENS = 8
#: Tokens one draft-checking forward may carry over all rows: below it a CPU forward costs about
#: the same whatever it carries (reading the weights dominates), above it compute does, and
#: rejected drafts would cost real time (SmolLM2, 1 thread: 16 rows x 9 tokens take 3.6x the
#: time of 16 x 1). A wide batch therefore drafts less per row.
TOKEN_BUDGET = 32


@dataclass(frozen=True)
class PromptLookup:
    """Drafting for one decode: ``contexts`` are the rows' prompt token ids (in request order),
    ``max_tokens`` the longest draft, ``max_ngram`` the longest suffix looked up, ``token_budget``
    the most tokens one forward carries over all rows."""

    contexts: Sequence[Sequence[int]]
    max_tokens: int = DEFAULT_DRAFT_TOKENS
    max_ngram: int = 3
    token_budget: int = TOKEN_BUDGET

    def per_row(self, rows: int) -> int:
        """The longest draft each of ``rows`` rows may carry within the forward's token budget."""
        return max(0, min(self.max_tokens, self.token_budget // max(rows, 1) - 1))

    def draft(self, row: int, generated: Sequence[int], room: int) -> list[int]:
        """Up to ``min(max_tokens, room)`` guesses of the tokens after ``generated`` (empty when
        its newest tokens occur nowhere earlier)."""
        n_max = min(self.max_tokens, room)
        if n_max <= 0:
            return []
        seq = np.fromiter((*self.contexts[row], *generated), dtype=np.int64)
        for n in range(min(self.max_ngram, len(seq) - 1), 0, -1):
            hits = _occurrences(seq, seq[-n:])
            if len(hits):
                start = int(hits[-1]) + n
                return seq[start : start + n_max].tolist()
        return []


def _occurrences(seq: np.ndarray, pattern: np.ndarray) -> np.ndarray:
    """Start indices of ``pattern`` in ``seq`` whose match ends before the last token (so
    something follows it), ascending."""
    n = len(pattern)
    limit = len(seq) - n  # a match starting here is the suffix itself
    ok = seq[: limit] == pattern[0]
    for j in range(1, n):
        ok &= seq[j : limit + j] == pattern[j]
    return np.flatnonzero(ok)
