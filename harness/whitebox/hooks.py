"""The one site-hook primitive: read, edit or skip sites during a forward.

Every white-box path (adapter reads and interventions, the interchange engine, decoding rules,
intervened generation) goes through :func:`site_hooks`. It installs ordinary torch forward
(pre-)hooks and removes them when the ``with`` block exits, also when the forward raises.
Skipping blocks (the engine's partial re-run) swaps the *container* of blocks for one of the
same length whose lower entries pass their input through; module methods are never reassigned,
so accelerate's device hooks and ``device_map`` placements on the real blocks stay intact.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import torch
from torch import nn

from harness.whitebox.layout import Layout, Site, block_output, replace_output

Edit = Callable[[torch.Tensor], torch.Tensor]


class Passthrough(nn.Module):
    """Stands in for a skipped block: returns its input hidden states unchanged."""

    def forward(self, hidden_states: torch.Tensor, *args, **kwargs) -> torch.Tensor:  # noqa: D401
        return hidden_states


def _first_input(args: tuple, kwargs: dict, fn: Edit) -> tuple[tuple, dict]:
    """Apply ``fn`` to a module's first input (positional or ``hidden_states=``)."""
    if args:
        return (fn(args[0]), *args[1:]), kwargs
    key = "hidden_states" if "hidden_states" in kwargs else next(iter(kwargs))
    return args, {**kwargs, key: fn(kwargs[key])}


def _target(layout: Layout, site: Site) -> tuple[nn.Module, bool]:
    """The module a site hooks and whether it is that module's input (pre-hook)."""
    if isinstance(site, tuple):
        kind, layer = site
        if kind == "mlp_key":
            return layout.mlp_down(int(layer)), True
        return layout.mlp(int(layer)), kind == "mlp_in"
    if site == 0:
        return layout.blocks[0], True
    return layout.blocks[int(site) - 1], False


@contextlib.contextmanager
def site_hooks(
    layout: Layout,
    read: Iterable[Site] = (),
    edit: Mapping[Site, Sequence[Edit]] | None = None,
    feed: tuple[int, torch.Tensor] | None = None,
    stop_at: int | None = None,
) -> Iterator[dict[Site, torch.Tensor]]:
    """Yield a dict that fills with ``{site: tensor}`` for ``read`` sites during the forward.

    ``edit`` maps sites to functions applied in order to the full (B, T, d) state there
    (reads see the edited state). ``feed=(k, hidden)`` runs only blocks ``k..L-1`` (0-based)
    and gives block ``k`` the input ``hidden`` (the blocks below are passed through).
    ``stop_at=s`` passes through the blocks above residual site ``s`` (a forward that only
    reads states up to ``s`` pays for ``s`` blocks, not ``L``; the model's outputs are then
    not its real ones).
    """
    wanted = set(read)
    edits = {s: list(fns) for s, fns in (edit or {}).items() if fns}
    for site in wanted | set(edits):
        layout.check_site(site)
    states: dict[Site, torch.Tensor] = {}

    def touch(site: Site, hidden: torch.Tensor) -> torch.Tensor:
        for fn in edits.get(site, ()):
            hidden = fn(hidden)
        if site in wanted:
            states[site] = hidden
        return hidden

    handles = []
    swapped = None
    try:
        for site in sorted(wanted | set(edits), key=repr):
            module, is_input = _target(layout, site)
            if is_input:
                def pre(mod, args, kwargs, site=site):
                    return _first_input(args, kwargs, lambda h: touch(site, h))

                handles.append(module.register_forward_pre_hook(pre, with_kwargs=True))
            else:
                def post(mod, args, output, site=site):
                    hidden = block_output(output)
                    new = touch(site, hidden)
                    return None if new is hidden else replace_output(output, new)

                handles.append(module.register_forward_hook(post))
        low = 0
        if feed is not None:
            low, hidden = feed
            handles.append(layout.blocks[low].register_forward_pre_hook(
                lambda mod, args, kwargs: _first_input(args, kwargs, lambda _h: hidden), with_kwargs=True))
        high = layout.num_layers if stop_at is None else max(1, int(stop_at))  # site 0 is block 0's input hook
        if stop_at is not None:
            layout.check_site(int(stop_at))
        if low > 0 or high < layout.num_layers:
            swapped = layout.blocks
            stand_in = nn.ModuleList([b if low <= i < high else Passthrough() for i, b in enumerate(layout.blocks)])
            setattr(layout.base, layout.blocks_attr, stand_in)
        yield states
    finally:
        if swapped is not None:
            setattr(layout.base, layout.blocks_attr, swapped)
        for h in handles:
            h.remove()


def position_edit(positions: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor]) -> Edit:
    """An :data:`Edit` that replaces the states at absolute ``positions`` ((B,) or (B, k)) by
    ``fn`` of them; gradients flow through ``fn``."""

    def apply(hidden: torch.Tensor) -> torch.Tensor:
        pos = positions.to(hidden.device)
        rows = torch.arange(hidden.shape[0], device=hidden.device)
        rows = rows if pos.dim() == 1 else rows[:, None].expand_as(pos)
        old = hidden[rows, pos]
        new = fn(old)
        if new.shape != old.shape:
            raise ValueError(f"an intervention returned shape {tuple(new.shape)}, expected {tuple(old.shape)}")
        return hidden.index_put((rows, pos), new.to(hidden.dtype))

    return apply


def absolute_positions(positions: Any, lengths: Sequence[int]) -> torch.Tensor:
    """(B,) or (B, k) absolute indices into right-padded rows; negatives count from each end."""
    pos = torch.as_tensor(positions, dtype=torch.long)
    lens = torch.as_tensor(list(lengths), dtype=torch.long)
    if pos.shape[0] != len(lens):
        raise ValueError(f"intervention positions for {pos.shape[0]} examples, but the batch has {len(lens)}")
    lens_b = lens if pos.dim() == 1 else lens[:, None]
    pos = torch.where(pos < 0, lens_b + pos, pos)
    if (pos < 0).any() or (pos >= lens_b).any():
        raise IndexError(f"intervention position out of range for sequence lengths {list(lengths)}: {positions}")
    return pos


def intervention_edits(interventions: Iterable[Any], lengths: Sequence[int]) -> dict[Site, list[Edit]]:
    """``{site: [edit, ...]}`` for :class:`~harness.models.base.Intervention` objects: each edit
    writes ``fn(h_base, source)`` at its per-example positions (any backend applies them)."""
    edits: dict[Site, list[Edit]] = {}
    for iv in interventions:
        pos = absolute_positions(iv.positions, lengths)
        edits.setdefault(iv.site, []).append(position_edit(pos, _with_source(iv.fn, iv.source)))
    return edits


def _with_source(fn: Callable[[torch.Tensor, Any], torch.Tensor], source: Any) -> Callable[[torch.Tensor], torch.Tensor]:
    """``fn(old, source)`` as a function of ``old`` alone (``source`` bound now, not at call time)."""
    return lambda old: fn(old, source)
