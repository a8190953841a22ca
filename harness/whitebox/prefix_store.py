"""KV caches of token prefixes, content-addressed by the prefix's token ids, bounded, and kept
across calls (a few-shot primer or MeLLo's demonstrations run once per adapter, not once per
batch). Entries are copied on the way out, so callers may extend or repeat them freely."""

from __future__ import annotations

import copy
from collections import OrderedDict
from typing import Any, Callable, Sequence


class PrefixStore:
    """An LRU map ``tuple(token ids) -> KV cache`` holding at most ``max_entries`` caches."""

    def __init__(self, max_entries: int = 4):
        self.max_entries = int(max_entries)
        self._entries: OrderedDict[tuple[int, ...], Any] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get_or_compute(self, tokens: Sequence[int], compute: Callable[[tuple[int, ...]], Any]) -> Any:
        """A private copy of the cache of ``tokens``, computed by ``compute`` on a miss."""
        key = tuple(int(t) for t in tokens)
        if key in self._entries:
            self._entries.move_to_end(key)
            self.hits += 1
        else:
            self.misses += 1
            self._entries[key] = compute(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return copy.deepcopy(self._entries[key]) if self.max_entries > 0 else self._entries.pop(key)

    def clear(self) -> None:
        self._entries.clear()
