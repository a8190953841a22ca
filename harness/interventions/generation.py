"""Greedy generation after an interchange intervention (RAVEL reads up to 3 new tokens).

The prompt pass reuses the engine's partial forward (only blocks above the site, only
positions from the intervention on); its keys/values, spliced with the clean ones below the
site, are the *intervened prefill* of the core decode loop (:func:`harness.whitebox.decode.decode`),
which then decodes exactly as plain generation does. Right padding is kept: each example's new
tokens get its own next positions, and the padding columns stay masked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import torch

from harness.interventions.engine import CachedRun, InterchangeEngine, InterchangeFn
from harness.whitebox.decode import Prefilled, StopTracker, decode, hf_step


@dataclass
class Generated:
    tokens: torch.Tensor  # (B, n) greedy token ids (after a row's EOS, that EOS id repeats); empty without logits
    logits: list[torch.Tensor]  # n tensors (B, V): the distribution each token was chosen from (if kept)
    finish: list[str]  # per row: "eos" or "length"
    rows: list[list[int]] = field(default_factory=list)  # per row: its new tokens, through the EOS id that ended it


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
    if site != engine.num_layers:
        from harness.interventions.row_resume import resume_rows, row_windows, worth_it

        if worth_it(engine, *row_windows(pos, last), extra=max_new_tokens):  # each row re-runs its own window
            final, cache, mask = resume_rows(engine, run, site, pos, source, fn, last, return_cache=True)
            return Prefilled(cache, mask, engine._head(final))
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
    max_new_tokens: int | Sequence[int] = 3,
    eos: set[int] | None = None,
    tokenizer=None,
    keep_logits: bool = True,
) -> Generated:
    """Greedy continuation of each base in ``run`` with ``fn`` applied at (``site``, ``positions``);
    rows end at a token in ``eos`` (the adapter's ``eos_ids()``; none by default). Any engine
    with ``intervened_prefill`` and ``decode_step`` serves (the cached one, or the full-forward
    one of backends without a cached re-run).

    ``max_new_tokens`` may be one budget per row. Without ``keep_logits`` the step distributions
    are not kept, so rows that ended leave the batch (see :func:`~harness.whitebox.decode.decode`)
    and only ``rows`` and ``finish`` are filled: the same tokens, computed for fewer rows."""
    limits = None if isinstance(max_new_tokens, int) else [int(n) for n in max_new_tokens]
    longest = max(limits, default=1) if limits is not None else int(max_new_tokens)  # type: ignore[arg-type]
    first = engine.intervened_prefill(run, site, positions, source, fn, longest)
    picked: list[torch.Tensor] = []
    logits: list[torch.Tensor] = []
    tracker = StopTracker(tokenizer, [()] * len(run), set(eos or ()), limits)

    def keep(step_logits: torch.Tensor, tokens: torch.Tensor) -> None:
        logits.append(step_logits)
        picked.append(tokens)

    decode(engine.decode_step(), first, tracker, longest, on_step=keep if keep_logits else None)
    rows = [toks + ([e] if e is not None else []) for toks, e in zip(tracker.tokens, tracker.eos_token)]
    if not keep_logits:
        return Generated(torch.zeros(len(run), 0, dtype=torch.long), [], [why or "length" for why in tracker.finish], rows)
    tokens = torch.stack(picked, dim=1)
    for i, why in enumerate(tracker.finish):  # after a row's EOS, repeat it (as a padded batch would)
        if why == "eos":
            n = len(tracker.tokens[i])
            tokens[i, n + 1:] = tokens[i, n]
    return Generated(tokens, logits, [why or "length" for why in tracker.finish], rows)
