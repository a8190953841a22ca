"""KV caches of token sequences, content-addressed by their token ids, bounded in bytes, kept
across calls and batches.

A cached column depends only on the tokens up to it, so any stored sequence serves every
sequence it shares a token prefix with: :meth:`PrefixStore.longest` finds the longest such
prefix over all entries. The few-shot primer of a task runs once per adapter, not once per
question or batch, and a MeLLo question's transcript (prompt + generated tokens, stored after
each decode) is extended at its next iteration instead of re-read. :func:`assemble` lays the
per-row prefixes out as one batch cache, left-padded, which the callers' masks and position ids
(counting real tokens only) make equivalent to each row's own cache.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

#: Default bound on the bytes of stored keys and values (16 MeLLo transcripts of ~1,000 tokens
#: of a 135M model take ~0.7 GiB).
DEFAULT_MAX_BYTES = 1 << 30


@dataclass
class _Entry:
    tokens: np.ndarray  # (n,) int64, the token ids the cache holds
    layers: list[tuple[torch.Tensor, torch.Tensor]]  # per layer (keys, values), each (1, H, n, D)
    nbytes: int


def cache_layers(cache: Any) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(keys, values) per layer of a transformers cache."""
    return [(layer.keys, layer.values) for layer in cache.layers]


class PrefixStore:
    """An LRU store ``token ids -> KV cache (batch 1)`` of at most ``max_bytes``. Returned tensors
    are fresh (callers may extend them); a stored sequence that another stored one extends is
    dropped, since the longer one serves every lookup the shorter did."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES, max_entries: int = 64):
        self.max_bytes, self.max_entries = int(max_bytes), int(max_entries)
        self._entries: OrderedDict[tuple[int, ...], _Entry] = OrderedDict()
        self.hits = 0  # lookups that reused at least one column
        self.misses = 0
        self.reused_tokens = 0  # columns served from the store instead of recomputed

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def nbytes(self) -> int:
        return sum(e.nbytes for e in self._entries.values())

    def clear(self) -> None:
        self._entries.clear()

    def longest(self, tokens: Sequence[int], limit: int | None = None) -> tuple[int, list[tuple[torch.Tensor, torch.Tensor]] | None]:
        """The longest stored prefix of ``tokens`` (at most ``limit`` long) and its per-layer
        (keys, values) as views of the stored tensors (read them, never write); (0, None) if none."""
        query = np.asarray(tokens, dtype=np.int64)
        cap = len(query) if limit is None else min(limit, len(query))
        best, best_key = 0, None
        for key, entry in self._entries.items():
            n = min(cap, len(entry.tokens))
            if n <= best:
                continue
            diff = np.flatnonzero(entry.tokens[:n] != query[:n])
            common = int(diff[0]) if len(diff) else n
            if common > best:
                best, best_key = common, key
        if best_key is None:
            self.misses += 1
            return 0, None
        self._entries.move_to_end(best_key)
        self.hits += 1
        self.reused_tokens += best
        return best, [(k[:, :, :best], v[:, :, :best]) for k, v in self._entries[best_key].layers]

    def put(self, tokens: Sequence[int], layers: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Store the cache of ``tokens`` ((keys, values) per layer, batch 1, one column per token)."""
        key = tuple(int(t) for t in tokens)
        if not key or self.max_bytes <= 0 or key in self._entries:
            if key in self._entries:
                self._entries.move_to_end(key)
            return
        layers = [(k.detach(), v.detach()) for k, v in layers]
        nbytes = sum(k.nbytes + v.nbytes for k, v in layers)
        if nbytes > self.max_bytes:
            return
        for other in [o for o in self._entries if len(o) < len(key) and key[: len(o)] == o]:
            del self._entries[other]  # ``key`` extends it: every lookup it served, ``key`` serves
        self._entries[key] = _Entry(np.asarray(key, dtype=np.int64), layers, nbytes)
        total = self.nbytes
        while (total > self.max_bytes or len(self._entries) > self.max_entries) and len(self._entries) > 1:
            _, old = self._entries.popitem(last=False)
            total -= old.nbytes

    def get_or_compute(self, tokens: Sequence[int], compute: Callable[[tuple[int, ...]], Any]) -> Any:
        """A private copy of the cache of exactly ``tokens``, computed by ``compute`` on a miss."""
        key = tuple(int(t) for t in tokens)
        n, layers = self.longest(key)
        if n == len(key) and layers is not None:
            return _as_cache([(k.clone(), v.clone()) for k, v in layers])
        cache = compute(key)
        self.put(key, cache_layers(cache))
        return copy.deepcopy(cache)


def _as_cache(layers: Sequence[tuple[torch.Tensor, torch.Tensor]], config: Any = None) -> Any:
    from transformers import DynamicCache

    cache = DynamicCache(config=config) if config is not None else DynamicCache()
    for i, (k, v) in enumerate(layers):
        cache.update(k, v, i)
    return cache


def assemble(rows: Sequence[tuple[int, Sequence[tuple[torch.Tensor, torch.Tensor]] | None]], config: Any) -> tuple[Any, torch.Tensor] | None:
    """One batch cache from per-row prefixes ``(n, layers)``: row ``i``'s ``n`` columns sit at
    the right end of a width ``max n`` (zeros before them, masked). Returns (cache, prefix mask
    (B, width)), or None when no row has a prefix."""
    width = max((n for n, _ in rows), default=0)
    if width == 0:
        return None
    ref = next(layers for n, layers in rows if n and layers is not None)
    device = ref[0][0].device
    mask = torch.zeros((len(rows), width), dtype=torch.long, device=device)
    out = []
    for li, (k0, v0) in enumerate(ref):
        keys = k0.new_zeros((len(rows), k0.shape[1], width, k0.shape[3]))
        values = v0.new_zeros((len(rows), v0.shape[1], width, v0.shape[3]))
        for i, (n, layers) in enumerate(rows):
            if n and layers is not None:
                keys[i, :, width - n :] = layers[li][0][0, :, :n]
                values[i, :, width - n :] = layers[li][1][0, :, :n]
        out.append((keys, values))
    for i, (n, _) in enumerate(rows):
        mask[i, width - n :] = 1
    return _as_cache(out, config), mask


def row_layers(cache: Any, row: int, columns: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Row ``row`` of a batch cache, its real ``columns`` only, as a batch-1 cache's layers."""
    return [(k[row : row + 1].index_select(2, columns).contiguous(), v[row : row + 1].index_select(2, columns).contiguous())
            for k, v in cache_layers(cache)]
