"""The engine's partial re-run with one window per row: each base runs only its own positions.

:meth:`InterchangeEngine.intervene` must run, for base ``i``, the positions from its intervention
(or first read) ``s_i`` to its last read ``e_i``. One window ``min s .. max e`` for the whole batch
(right-padded, as the clean run is laid out) also runs every other row's positions in it: with
prompts whose entity sits at different places (RAVEL's templates) a training batch ran 3.5x the
positions it needed. Here each row's window ``s_i .. e_i`` is left-aligned into a block of width
``max(e - s)``, after its cached keys/values of positions ``0 .. s_i`` laid out left-padded to
``max s`` (masked), with position ids counting the row's real positions; the attention each query
sees is exactly the one of the one-window re-run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:  # pragma: no cover
    from harness.interventions.engine import CachedRun, InterchangeEngine


def row_windows(pos: torch.Tensor, read: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row: the first position to run (intervention or first read) and one past the last read."""
    reads = read if read.ndim == 2 else read[:, None]
    return torch.minimum(pos, reads.min(1).values), torch.maximum(pos, reads.max(1).values) + 1


def worth_it(engine: InterchangeEngine, start: torch.Tensor, stop: torch.Tensor, extra: int = 0) -> bool:
    """Whether per-row windows save positions, and the model allows them (a sliding window counts
    cache columns, which the left padding would shift; ``extra``: columns decoding will add)."""
    width = int((stop - start).max())
    if len(start) < 2 or width > 0.8 * (int(stop.max()) - int(start.min())):
        return False
    window = getattr(engine.model.config, "sliding_window", None)
    return not (window and int(start.max()) + width + extra > window)


def resume_rows(engine: InterchangeEngine, run: CachedRun, site: int, pos: torch.Tensor, source: torch.Tensor, fn,
                read: torch.Tensor, return_cache: bool = False):
    """Final-norm states at ``read`` ((B,) or (B, k) absolute positions) after ``fn`` replaced the
    site-``site`` state at ``pos``; runs blocks above ``site`` on each row's own window only.

    With ``return_cache`` (generation: ``read`` is each row's last token) also the KV cache of
    every layer over the row's positions ``0 .. e_i`` (left-padded prefix, then the window; the
    blocks below the site keep their clean keys/values) and its mask, for the decode loop, whose
    position ids count real columns only."""
    from transformers import DynamicCache

    from harness.whitebox.hooks import site_hooks

    dev = engine.device
    start, stop = row_windows(pos, read)
    n = stop - start
    width, prefix = int(n.max()), int(start.max())
    B = len(pos)
    rows = torch.arange(B, device=dev)
    cols = torch.arange(width, device=dev)
    src_cols = (start[:, None] + cols[None]).clamp(max=run.states[site].shape[1] - 1)  # padding columns repeat a real one
    hidden = run.states[site][rows[:, None], src_cols]
    at = pos - start
    hidden = hidden.index_put((rows, at), fn(hidden[rows, at], source.to(hidden.dtype)))
    ids = run.batch.input_ids.to(dev)[rows[:, None], src_cols]
    real_new = (cols[None] < n[:, None]).long()
    cache = None
    past: list[tuple[torch.Tensor, torch.Tensor]] = []
    if prefix > 0:
        pcols = torch.arange(prefix, device=dev)
        take = (start[:, None] - prefix + pcols[None])  # row i's column j holds position j - (prefix - s_i)
        real_old = (take >= 0).long()
        take = take.clamp(min=0)
        for k, v in zip(run.keys, run.values):
            idx = take[:, None, :, None].expand(-1, k.shape[1], -1, k.shape[3])
            past.append((k.gather(2, idx) * real_old[:, None, :, None], v.gather(2, idx) * real_old[:, None, :, None]))
        cache = DynamicCache(ddp_cache_data=past, config=engine.model.config)
        mask = torch.cat([real_old, real_new], 1)
    else:
        mask = real_new
    position_ids = start[:, None] + cols[None]
    with site_hooks(engine.layout, feed=(site, hidden)):
        out = engine.layout.base(input_ids=ids, attention_mask=mask, position_ids=position_ids,
                                 past_key_values=cache, use_cache=cache is not None)
    final = out.last_hidden_state
    states = final[rows[:, None], read - start[:, None]] if read.ndim == 2 else final[rows, read - start]
    if not return_cache:
        return states
    from harness.whitebox.prefix_store import cache_layers

    layers = []
    for i, ((k, v), new) in enumerate(zip(zip(run.keys, run.values), cache_layers(out.past_key_values))):
        if i < site:  # skipped blocks: the prefix and window columns keep their clean keys/values
            idx = src_cols[:, None, :, None].expand(-1, k.shape[1], -1, k.shape[3])
            old_k, old_v = past[i] if past else (k[:, :, :0], v[:, :, :0])
            layers.append((torch.cat([old_k, k.gather(2, idx)], 2), torch.cat([old_v, v.gather(2, idx)], 2)))
        else:
            layers.append(new)
    return states, DynamicCache(ddp_cache_data=layers, config=engine.model.config), mask
