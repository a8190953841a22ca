"""Forward hooks on the residual stream: read states at sites, apply interventions.

Site ``0`` is the input of block 0 (a forward pre-hook), site ``l`` the output of block
``l`` (a forward hook). Hooks are removed when the ``with`` block exits, also on error.
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Sequence

import torch
from torch import nn

from harness.models.base import Intervention
from harness.models.layers import block_output, replace_block_output


def _position_index(positions, lengths: Sequence[int], device) -> torch.Tensor:
    """(B,) or (B, k) absolute indices into right-padded rows; negatives count from each end."""
    pos = torch.as_tensor(positions, dtype=torch.long)
    lens = torch.as_tensor(list(lengths), dtype=torch.long)
    if pos.dim() == 1:
        pos = torch.where(pos < 0, lens + pos, pos)
    else:
        pos = torch.where(pos < 0, lens[:, None] + pos, pos)
    if (pos < 0).any() or (pos >= lens.view(-1, *([1] * (pos.dim() - 1)))).any():
        raise IndexError(f"intervention position out of range for sequence lengths {list(lengths)}: {positions}")
    return pos.to(device)


def _apply(hidden: torch.Tensor, iv: Intervention, lengths: Sequence[int]) -> torch.Tensor:
    if hidden.shape[0] != len(lengths):
        raise ValueError(f"intervention at site {iv.site}: batch of {hidden.shape[0]} but {len(lengths)} lengths")
    pos = _position_index(iv.positions, lengths, hidden.device)
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    rows = rows if pos.dim() == 1 else rows[:, None].expand_as(pos)
    new_vals = iv.fn(hidden[rows, pos])
    if new_vals.shape != hidden[rows, pos].shape:
        raise ValueError(f"intervention at site {iv.site} returned shape {tuple(new_vals.shape)}, expected {tuple(hidden[rows, pos].shape)}")
    edited = hidden.clone()
    edited[rows, pos] = new_vals.to(hidden.dtype)
    return edited


@contextlib.contextmanager
def residual_hooks(
    blocks: nn.ModuleList,
    sites: Sequence[int] = (),
    interventions: Sequence[Intervention] = (),
    lengths: Sequence[int] | None = None,
) -> Iterator[dict[int, torch.Tensor]]:
    """Yield a dict that fills with {site: (B, T, d)} states during the forward."""
    n = len(blocks)
    states: dict[int, torch.Tensor] = {}
    wanted = set(sites)
    by_site: dict[int, list[Intervention]] = {}
    for iv in interventions:
        if not 0 <= iv.site <= n:
            raise IndexError(f"intervention site {iv.site} is outside 0..{n}")
        by_site.setdefault(iv.site, []).append(iv)
    for s in wanted:
        if not 0 <= s <= n:
            raise IndexError(f"site {s} is outside 0..{n} (0 = embeddings, {n} = last block)")
    if by_site and lengths is None:
        raise ValueError("interventions need the sequence lengths of the batch")

    def edit(site: int, hidden: torch.Tensor) -> torch.Tensor:
        for iv in by_site.get(site, ()):
            hidden = _apply(hidden, iv, lengths)  # type: ignore[arg-type]
        if site in wanted:
            states[site] = hidden
        return hidden

    handles = []
    try:
        if 0 in wanted or 0 in by_site:

            def pre_hook(module, args, kwargs):
                if args:
                    return (edit(0, args[0]), *args[1:]), kwargs
                kwargs = dict(kwargs)
                kwargs["hidden_states"] = edit(0, kwargs["hidden_states"])
                return args, kwargs

            handles.append(blocks[0].register_forward_pre_hook(pre_hook, with_kwargs=True))
        for site in sorted((wanted | set(by_site)) - {0}):

            def post_hook(module, args, output, site=site):
                hidden = block_output(output)
                new = edit(site, hidden)
                return None if new is hidden else replace_block_output(output, new)

            handles.append(blocks[site - 1].register_forward_hook(post_hook))
        yield states
    finally:
        for h in handles:
            h.remove()
