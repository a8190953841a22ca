"""Greedy generation after an interchange intervention (RAVEL reads up to 3 new tokens).

The prompt pass reuses the engine's partial forward (only blocks above the site, only
positions from the intervention on); its keys/values, spliced with the clean ones below the
site, are the *intervened prefill* of the core decode loop (:func:`harness.whitebox.decode.decode`),
which then decodes exactly as plain generation does. Right padding is kept: each example's new
tokens get its own next positions, and the padding columns stay masked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch

from harness.interventions.engine import CachedRun, InterchangeEngine, InterchangeFn
from harness.whitebox.decode import Prefilled, StopTracker, decode, hf_step


@dataclass
class Generated:
    tokens: torch.Tensor  # (B, n) greedy token ids (after a row's EOS, that EOS id repeats)
    logits: list[torch.Tensor]  # n tensors (B, V): the distribution each token was chosen from
    finish: list[str]  # per row: "eos" or "length"


def intervened_prefill(engine: InterchangeEngine, run: CachedRun, site: int, positions: Sequence[int] | torch.Tensor,
                       source: torch.Tensor, fn: InterchangeFn, max_new_tokens: int) -> Prefilled:
    """The KV cache and next-token logits of each base in ``run`` with ``fn`` applied at
    (``site``, ``positions``), from the engine's cached partial re-run."""
    from transformers import DynamicCache

    engine._check_site(site)
    batch = run.batch
    config = engine.model.config
    window = getattr(config, "sliding_window", None)
    if window and "sliding_attention" in (getattr(config, "layer_types", None) or ["sliding_attention"]):
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
        cache = DynamicCache(ddp_cache_data=[(k, v) for k, v in zip(run.keys, run.values)], config=config)
    else:
        final, cache = engine._resume(run, site, hidden, start, width, return_cache=True)
    logits = engine._head(final[rows, last - start])
    return Prefilled(cache, batch.attention_mask.to(dev), logits)


@torch.no_grad()
def generate_with_intervention(
    engine: InterchangeEngine | Any,
    run: CachedRun,
    site: int,
    positions: Sequence[int] | torch.Tensor,
    source: torch.Tensor,
    fn: InterchangeFn,
    max_new_tokens: int = 3,
    eos: set[int] | None = None,
    tokenizer=None,
) -> Generated:
    """Greedy continuation of each base in ``run`` with ``fn`` applied at (``site``, ``positions``);
    rows end at a token in ``eos`` (the adapter's ``eos_ids()``; none by default). Any engine
    with ``intervened_prefill`` and ``decode_step`` serves (the cached one, or the full-forward
    one of backends without a cached re-run)."""
    first = engine.intervened_prefill(run, site, positions, source, fn, max_new_tokens)
    picked: list[torch.Tensor] = []
    logits: list[torch.Tensor] = []
    tracker = StopTracker(tokenizer, [()] * len(run), set(eos or ()))

    def keep(step_logits: torch.Tensor, tokens: torch.Tensor) -> None:
        logits.append(step_logits)
        picked.append(tokens)

    decode(engine.decode_step(), first, tracker, max_new_tokens, on_step=keep)
    tokens = torch.stack(picked, dim=1)
    for i, why in enumerate(tracker.finish):  # after a row's EOS, repeat it (as a padded batch would)
        if why == "eos":
            n = len(tracker.tokens[i])
            tokens[i, n + 1:] = tokens[i, n]
    return Generated(tokens, logits, [why or "length" for why in tracker.finish])
