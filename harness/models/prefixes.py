"""Reuse of computed prompt prefixes by the transformers adapter's scoring and generation: which
prompts may reuse them, the primer a call's prompts share (run once into the adapter's
:class:`~harness.whitebox.prefix_store.PrefixStore`), and each row's longest stored prefix laid
out as one batch cache."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import torch

from harness.whitebox.decode import accepts_logits_to_keep
from harness.whitebox.prefix_store import assemble

if TYPE_CHECKING:  # pragma: no cover
    from harness.models.hf import HFAdapter

MIN_SHARED_PREFIX = 8  # below this, a separate prefix forward costs more than it saves


def shared_prefix_length(prompts: Sequence[Sequence[int]]) -> int:
    """Length of the token prefix all prompts share, leaving every prompt at least one token."""
    if len(prompts) < 2:
        return 0
    first, n = prompts[0], min(len(p) for p in prompts) - 1
    for i in range(n):
        if any(p[i] != first[i] for p in prompts):
            return i
    return max(n, 0)


def _prefix_cache(adapter: HFAdapter, tokens: tuple[int, ...]):
    ids = torch.tensor([tokens], device=adapter.device)
    keep = {"logits_to_keep": 1} if accepts_logits_to_keep(adapter.model) else {}
    with torch.no_grad():
        return adapter.model(input_ids=ids, use_cache=True, **keep).past_key_values


def window_reached(adapter: HFAdapter, columns: int) -> bool:
    """Whether a cache of ``columns`` columns outgrows the model's sliding window, which counts
    columns, so masked ones (padding, rejected drafts) would push real tokens out of it."""
    window = getattr(adapter.model.config, "sliding_window", None)
    return bool(window and columns > window)


def reuses_prefixes(adapter: HFAdapter, prompts: Sequence[Sequence[int]], max_new_tokens: int) -> bool:
    """Whether cached prefixes may serve these prompts: not where a sliding window could reach
    the padding between a prefix and its suffix."""
    return adapter.share_prefix and not window_reached(adapter, max(len(p) for p in prompts) + max_new_tokens)


def store_shared_prefix(adapter: HFAdapter, prompts: Sequence[Sequence[int]]) -> None:
    """Run the prefix that prompts share (a few-shot primer) once, into the adapter's
    :class:`PrefixStore`, unless a stored sequence already covers it; every batch of the call
    (and later calls) then reuses it. Prompts are clustered by their first tokens, so a call
    that mixes tasks stores each task's primer."""
    store = adapter.prefix_store
    if store.max_bytes <= 0:
        return
    clusters: dict[tuple[int, ...], list[Sequence[int]]] = {}
    for p in prompts:
        if len(p) > MIN_SHARED_PREFIX:
            clusters.setdefault(tuple(p[:MIN_SHARED_PREFIX]), []).append(p)
    for members in clusters.values():
        n_shared = shared_prefix_length(members)
        if n_shared >= MIN_SHARED_PREFIX and store.longest(members[0][:n_shared])[0] < n_shared:
            store.get_or_compute(members[0][:n_shared], lambda key: _prefix_cache(adapter, key))


def prefix_rows(adapter: HFAdapter, prompts: Sequence[Sequence[int]]) -> tuple[Any, torch.Tensor, list[int]]:
    """Each prompt's longest stored prefix (leaving it at least one token) laid out as one
    left-padded batch cache: (cache or None, prefix mask (B, P), reused length per row)."""
    store = adapter.prefix_store
    rows = [store.longest(p, limit=len(p) - 1) for p in prompts]
    rows = [(n, layers) if n >= MIN_SHARED_PREFIX else (0, None) for n, layers in rows]
    built = assemble(rows, adapter.model.config)
    if built is None:
        return None, torch.ones((len(prompts), 0), dtype=torch.long, device=adapter.device), [0] * len(prompts)
    cache, mask = built
    return cache, mask.to(adapter.device), [n for n, _ in rows]
