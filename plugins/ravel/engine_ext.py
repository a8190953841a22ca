"""RAVEL's inputs for the shared interchange engine (:mod:`harness.interventions`).

* :func:`encode_prompts` tokenises exactly as ``HFAdapter.tok_encode`` (BOS when the adapter
  adds one) and finds the entity's last token from character offsets in the same pass.
* :func:`teacher_forced` lays out multi-token targets: RAVEL's values span up to 3 tokens and
  its trained methods are fit on all of them, so each base is ``prompt + target[:-1]`` read at
  (B, k) positions with (B, k) targets (-100 = padding), which the engine's ``intervene`` and
  ``CachedProblem`` accept.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from harness_plugins.ravel.positions import last_token_overlapping

IGNORE = -100


def encode_prompts(adapter: Any, texts: Sequence[str], spans: Sequence[tuple[int, int]]) -> tuple[list[list[int]], list[int]]:
    """Token ids of each text as the adapter runs it (its BOS rule), and the entity's last-token
    index, from the adapter's character offsets."""
    try:
        ids, offsets = adapter.encode_with_offsets(texts)
    except TypeError as err:
        raise TypeError(f"{err}; RAVEL needs character offsets to find entities") from None
    positions = [last_token_overlapping(offs, start, end) for offs, (start, end) in zip(offsets, spans)]
    return ids, positions


def teacher_forced(prompt_ids: Sequence[Sequence[int]], targets: Sequence[Sequence[int]], max_tokens: int) -> tuple[list[list[int]], torch.Tensor, torch.Tensor]:
    """Inputs ``prompt + target[:-1]``, read positions and padded targets for teacher forcing."""
    seqs, reads, tgts = [], [], []
    for p, t in zip(prompt_ids, targets):
        t = list(t)[:max_tokens]
        if not t:
            raise ValueError("a training target has no tokens")
        seqs.append(list(p) + t[:-1])
        r = [len(p) - 1 + j for j in range(len(t))]
        reads.append(r + [r[-1]] * (max_tokens - len(r)))
        tgts.append(t + [IGNORE] * (max_tokens - len(t)))
    return seqs, torch.tensor(reads), torch.tensor(tgts)
