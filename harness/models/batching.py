"""Batch sizes: ``auto`` probing on accelerators, and halving on out-of-memory errors.

:func:`run_batched` walks an ordered list of work items in batches; when a batch raises an
out-of-memory error, the batch size is halved and the *same* items are retried, so no item is
lost or computed twice. Only successful batches contribute results.
"""

from __future__ import annotations

import gc
import logging
from typing import Any, Callable, Protocol, Sequence, TypeVar

import torch

log = logging.getLogger("harness.models")
T = TypeVar("T")
R = TypeVar("R")

#: On a CPU, memory is not what limits a batch and larger batches stop paying off early.
CPU_AUTO_BATCH = 16


def is_oom(err: BaseException) -> bool:
    if isinstance(err, torch.cuda.OutOfMemoryError):
        return True
    msg = str(err).lower()
    return isinstance(err, RuntimeError) and ("out of memory" in msg or "can't allocate memory" in msg)


def free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


class SizedAdapter(Protocol):
    """What a :class:`BatchSizer` reads of its adapter (the transformers and nnsight ones); the
    ``auto`` probe runs the adapter's own ``forward_ids``, so it is a forward like any other
    (inside a trace, for nnsight)."""

    max_length: int
    tokenizer: Any

    @property
    def device(self) -> torch.device: ...

    def forward_ids(self, ids: torch.Tensor, mask: torch.Tensor) -> object: ...


class BatchSizer:
    """The adapter's current batch size; ``auto`` is resolved on first use and shrinks on OOM."""

    _cap: int | None = None  # set by an out-of-memory error, shared by every caller

    def __init__(self, adapter: SizedAdapter, batch_size: int | str, max_batch_size: int):
        self.adapter = adapter
        self.requested = batch_size
        self.max_batch_size = int(max_batch_size)
        if batch_size != "auto":
            try:
                self._size: int | None = int(batch_size)
            except ValueError:
                raise ValueError(f"batch_size={batch_size!r}: expected a positive integer or 'auto'") from None
            if self._size < 1:
                raise ValueError(f"batch_size={batch_size!r}: expected a positive integer or 'auto'")
        else:
            self._size = None

    def size(self, longest: int = 0, default: int | None = None) -> int:
        """The model batch to use now. ``default`` is a caller's preferred size where the user
        asked for ``auto`` on a CPU (where memory does not limit it); an explicit
        ``--batch-size N`` always wins, and an out-of-memory cap always applies."""
        if self._size is None:
            if default is not None and self.requested == "auto" and self.adapter.device.type == "cpu":
                size = int(default)
            else:
                self._size = self._probe(longest or min(self.adapter.max_length, 2048))
                size = self._size
        else:
            size = self._size
        return max(1, min(size, self._cap)) if self._cap is not None else size

    def shrink(self, used: int | None = None) -> int:
        """Halve the batch after an out-of-memory error at ``used`` (default: the current size)."""
        current = used if used is not None else (self._cap or self._size or 1)
        if current <= 1:
            raise RuntimeError("out of memory at batch size 1")
        self._cap = max(1, current // 2)
        log.warning("out of memory: batch size halved to %d", self._cap)
        return self._cap

    def _probe(self, length: int) -> int:
        """Largest power-of-two batch (≤ max) whose forward at ``length`` tokens fits."""
        if self.adapter.device.type == "cpu":
            return min(CPU_AUTO_BATCH, self.max_batch_size)
        size = self.max_batch_size
        while size >= 1:
            try:
                ids = torch.full((size, length), self.adapter.tokenizer.pad_token_id, device=self.adapter.device)
                with torch.no_grad():
                    self.adapter.forward_ids(ids, torch.ones_like(ids))
                del ids
                free_memory()
                log.info("auto batch size: %d (at %d tokens)", size, length)
                return size
            except Exception as err:  # noqa: BLE001
                if not is_oom(err):
                    raise
                free_memory()
                size //= 2
        raise RuntimeError(f"even one sequence of {length} tokens does not fit in memory")


def run_batched(
    items: Sequence[T],
    sizer: BatchSizer,
    fn: Callable[[Sequence[T]], list[R]],
    cost: Callable[[Sequence[T]], int] | None = None,
    on_batch: Callable[[Sequence[T]], object] | None = None,  # its return value is ignored
    default: int | None = None,
) -> list[R]:
    """Apply ``fn`` to consecutive batches of ``items``; on OOM halve and retry the same items.

    ``cost(batch)`` (default ``len``) is compared with the batch size, so a batch can be
    measured in rows that differ from items (e.g. continuations of shared contexts).
    ``default`` is the caller's preferred batch under ``auto`` on a CPU (see :meth:`BatchSizer.size`).
    This is the one batching path: every chunked forward of the harness and its plugins uses it.
    """
    cost = cost or len
    out: list[R] = []
    start = 0
    while start < len(items):
        limit = sizer.size(default=default)
        end = start + 1
        while end < len(items) and cost(items[start : end + 1]) <= limit:
            end += 1
        batch = items[start:end]
        try:
            results = fn(batch)
        except Exception as err:  # noqa: BLE001
            if not is_oom(err):
                raise
            free_memory()
            if len(batch) == 1 and cost(batch) <= 1:
                raise
            sizer.shrink(limit)
            continue
        if len(results) != len(batch):
            raise RuntimeError(f"batch function returned {len(results)} results for {len(batch)} items")
        out.extend(results)
        start = end
        if on_batch:
            on_batch(batch)
    return out


def run_batched_by_length(
    items: Sequence[T],
    sizer: BatchSizer,
    fn: Callable[[Sequence[T]], list[R]],
    length: Callable[[T], int],
    default: int | None = None,
) -> list[R]:
    """:func:`run_batched` over ``items`` taken longest first, results back in the callers' order.

    Right-padded batches cost their longest row times their size: grouping rows of similar
    ``length`` cuts the padding (RAVEL's mix of short templates and long Wikipedia contexts
    was 71% padding in input order), and the longest batch runs first, so an out-of-memory
    halving happens before any work is spent on shorter ones."""
    order = sorted(range(len(items)), key=lambda i: -length(items[i]))
    done = run_batched([items[i] for i in order], sizer, fn, default=default)
    out: list[Any] = [None] * len(items)
    for result, i in zip(done, order):
        out[i] = result
    return out
