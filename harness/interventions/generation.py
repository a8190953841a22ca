"""Greedy generation after an interchange intervention (RAVEL reads up to 3 new tokens).

The prompt pass reuses the engine's partial forward (only blocks above the site, only
positions from the intervention on); its keys/values, spliced with the clean ones below the
site, seed an ordinary KV-cached greedy decode. Right padding is kept: each example's new
tokens get its own next positions, and the padding columns stay masked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from harness.interventions.engine import CachedRun, InterchangeEngine, InterchangeFn, _frozen
from harness.interventions.tokens import TokenBatch


@dataclass
class Generated:
    tokens: torch.Tensor  # (B, n) greedy token ids (after an EOS, the EOS id repeats)
    logits: list[torch.Tensor]  # n tensors (B, V): the distribution each token was chosen from


@torch.no_grad()
def generate_with_intervention(
    engine: InterchangeEngine,
    run: CachedRun,
    site: int,
    positions: Sequence[int] | torch.Tensor,
    source: torch.Tensor,
    fn: InterchangeFn,
    max_new_tokens: int = 3,
    eos_token_id: int | None = None,
) -> Generated:
    """Greedy continuation of each base in ``run`` with ``fn`` applied at (``site``, ``positions``)."""
    from transformers import DynamicCache

    engine._check_site(site)
    batch = run.batch
    window = getattr(engine.model.config, "sliding_window", None)
    if window and "sliding_attention" in (getattr(engine.model.config, "layer_types", None) or ["sliding_attention"]):
        if batch.input_ids.shape[1] + max_new_tokens > window:
            raise NotImplementedError(f"prompt + {max_new_tokens} new tokens exceed the sliding attention window ({window}); "
                                      "right-padded decoding would slide over padding")
    dev = engine.device
    pos = batch.resolve(positions).to(dev)
    last = batch.resolve([-1] * len(batch)).to(dev)
    width = batch.input_ids.shape[1]
    start = int(pos.min())
    rows = torch.arange(len(batch), device=dev)
    hidden = run.states[site][:, start:width]
    hidden = hidden.index_put((rows, pos - start), fn(hidden[rows, pos - start], source.to(hidden.dtype)))
    if site == engine.num_layers:  # editing the last block's output changes no key/value
        final = engine.norm(hidden) if engine.norm is not None else hidden
        cache = DynamicCache(ddp_cache_data=[(k, v) for k, v in zip(run.keys, run.values)], config=engine.model.config)
    else:
        final, cache = engine._resume(run, site, hidden, start, width, return_cache=True)
    logits = engine._head(final[rows, last - start])
    out_logits = [logits]
    token = logits.argmax(-1)
    tokens = [token]
    done = torch.zeros(len(batch), dtype=torch.bool, device=dev)
    mask = batch.attention_mask.to(dev)
    next_pos = last + 1
    for _ in range(max_new_tokens - 1):
        if eos_token_id is not None:
            done |= token == eos_token_id
            if bool(done.all()):
                break
        mask = torch.cat([mask, torch.ones(len(batch), 1, dtype=mask.dtype, device=dev)], dim=1)
        with _frozen(engine.model):
            out = engine.model(input_ids=token[:, None], attention_mask=mask, position_ids=next_pos[:, None],
                               past_key_values=cache, use_cache=True)
        cache = out.past_key_values
        logits = out.logits[:, -1]
        token = logits.argmax(-1)
        if eos_token_id is not None:
            token = torch.where(done, torch.full_like(token, eos_token_id), token)
        out_logits.append(logits)
        tokens.append(token)
        next_pos = next_pos + 1
    return Generated(torch.stack(tokens, dim=1), out_logits)


@torch.no_grad()
def generate_full(
    engine: InterchangeEngine,
    base: TokenBatch,
    source: TokenBatch,
    site: int,
    base_positions: Sequence[int] | torch.Tensor,
    source_positions: Sequence[int] | torch.Tensor,
    fn: InterchangeFn,
    max_new_tokens: int = 3,
) -> Generated:
    """Reference: re-run the whole (prompt + generated) sequence with the hook at every step."""
    seqs = [base.input_ids[i, : n].tolist() for i, n in enumerate(base.lengths)]
    bpos = base.resolve(base_positions)
    tokens, logits_list = [], []
    for _ in range(max_new_tokens):
        batch = TokenBatch.from_ids(seqs, pad_id=engine.pad_id)
        logits = engine.intervene_full(batch, source, site, bpos, source_positions, fn)
        token = logits.argmax(-1)
        logits_list.append(logits)
        tokens.append(token)
        seqs = [s + [int(t)] for s, t in zip(seqs, token)]
    return Generated(torch.stack(tokens, dim=1), logits_list)
