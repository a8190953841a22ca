"""Slow reference implementations that equivalence tests compare the fast paths against.
They live here, not in the package: production code has one path per job."""

from __future__ import annotations

import torch

from harness.interventions.generation import Generated
from harness.interventions.tokens import TokenBatch


@torch.no_grad()
def generate_full(engine, base: TokenBatch, source: TokenBatch, site, base_positions, source_positions, fn, max_new_tokens: int = 3) -> Generated:
    """Re-run the whole (prompt + generated) sequence with the hook at every step."""
    seqs = [base.input_ids[i, :n].tolist() for i, n in enumerate(base.lengths)]
    bpos = base.resolve(base_positions)
    tokens, logits_list = [], []
    for _ in range(max_new_tokens):
        batch = TokenBatch.from_ids(seqs, pad_id=engine.pad_id)
        logits = engine.intervene_full(batch, source, site, bpos, source_positions, fn)
        token = logits.argmax(-1)
        logits_list.append(logits)
        tokens.append(token)
        seqs = [s + [int(t)] for s, t in zip(seqs, token)]
    return Generated(torch.stack(tokens, dim=1), logits_list, ["length"] * len(seqs))
