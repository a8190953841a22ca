"""Clean runs of single token sequences, kept across calls and batches (bounded, LRU).

A benchmark that builds its instance from clean generations, then fits and evaluates methods on
the same prompts (RAVEL), would otherwise re-run each prompt once per call. :class:`RunStore`
keeps each sequence's own columns of a :class:`~harness.interventions.engine.CachedRun` (the
states at the kept sites, every layer's keys/values, the final-norm states), content-addressed by
its token ids; a later batch of stored sequences is assembled from them (right-padded, as
``engine.run`` lays it out) instead of re-run, and a sequence that extends a stored one (a prompt
plus teacher-forced target tokens) runs only its new columns on the stored keys/values.

A column depends only on the tokens up to it (causal attention; padding is masked), so an
assembled run equals a fresh one up to floating-point summation order (tests compare both).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import torch

from harness.interventions.engine import CachedRun
from harness.interventions.tokens import TokenBatch

if TYPE_CHECKING:  # pragma: no cover
    from harness.interventions.engine import InterchangeEngine

#: Default bound on stored bytes (~1,000 RAVEL prompts of 20 tokens on a 135M model).
DEFAULT_MAX_BYTES = 1 << 30
#: Shared leading tokens from which :meth:`RunStore.add` runs a prefix once for its group.
MIN_SHARED = 4


def shared_heads(seqs: Sequence[tuple[int, ...]], min_shared: int = MIN_SHARED) -> dict[tuple[int, ...], tuple[int, ...]]:
    """Groups of sequences with a common prefix of at least ``min_shared`` tokens (each keeps at
    least one token of its own): ``{sequence: its group's prefix}``, for groups of two or more.

    In sorted order, a sequence joins the current group while that saves more tokens than
    starting anew: a group of m sharing L tokens saves (m - 1) * L."""
    out: dict[tuple[int, ...], tuple[int, ...]] = {}
    group: list[tuple[int, ...]] = []
    head: tuple[int, ...] = ()

    def close() -> None:
        if len(group) >= 2 and len(head) >= min_shared:
            out.update({k: head for k in group})

    for k in sorted(seqs):
        if group:
            n = 0
            limit = min(len(head), len(k) - 1)
            while n < limit and head[n] == k[n]:
                n += 1
            if n >= min_shared and len(group) * n >= (len(group) - 1) * len(head):
                group.append(k)
                head = head[:n]
                continue
            close()
        group, head = [k], k[: len(k) - 1]
    close()
    return out


@dataclass
class _Row:
    states: dict[int, torch.Tensor]  # site -> (T, d)
    keys: list[torch.Tensor]  # per layer (H, T, D)
    values: list[torch.Tensor]
    final: torch.Tensor  # (T, d)

    @property
    def nbytes(self) -> int:
        tensors = [*self.states.values(), *self.keys, *self.values, self.final]
        return sum(t.nbytes for t in tensors)


class RunStore:
    """Per-sequence clean runs of one engine at ``sites``; at most ``max_bytes`` kept."""

    def __init__(self, engine: InterchangeEngine, sites: Sequence[int], max_bytes: int = DEFAULT_MAX_BYTES):
        self.engine, self.sites = engine, sorted({int(s) for s in sites})
        self.max_bytes = int(max_bytes)
        self._rows: OrderedDict[tuple[int, ...], _Row] = OrderedDict()
        self._nbytes = 0
        self.computed_tokens = 0  # columns run through the model
        self.reused_tokens = 0  # columns served from the store

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, seq: Sequence[int]) -> bool:
        return tuple(int(t) for t in seq) in self._rows

    def clear(self) -> None:
        self._rows.clear()
        self._nbytes = 0

    def state(self, seq: Sequence[int], site: int, position: int) -> torch.Tensor | None:
        """The stored (d,) state of ``seq`` at ``site`` and ``position``, or None if not stored."""
        row = self._rows.get(tuple(int(t) for t in seq))
        if row is None or site not in row.states:
            return None
        self._rows.move_to_end(tuple(int(t) for t in seq))
        return row.states[site][position]

    # -- runs ------------------------------------------------------------------------------
    def run(self, seqs: Sequence[Sequence[int]], chunk_size: int = 64, extends: Sequence[int] | None = None,
            keep: bool = True) -> CachedRun:
        """The clean run of ``seqs`` (one right-padded batch, states at this store's sites only).

        Stored sequences are assembled, the others run through the engine; with ``extends``,
        sequence ``i`` whose first ``extends[i]`` tokens are stored runs only the columns after
        them. ``keep`` stores the newly computed sequences.
        """
        keys = [tuple(int(t) for t in s) for s in seqs]
        fresh = list(dict.fromkeys(k for k in keys if k not in self._rows))
        new = set(fresh)
        heads: dict[tuple[int, ...], tuple[int, ...]] = {}
        if extends is not None:
            for k, n in zip(keys, extends):
                if k in new and 0 < int(n) < len(k) and k[: int(n)] in self._rows:
                    heads[k] = k[: int(n)]
        for k in keys:
            if k in self._rows:
                self._rows.move_to_end(k)
                self.reused_tokens += len(k)
        made = self._compute(fresh, heads, chunk_size) if fresh else {}
        run = self._assemble([made[k] if k in made else self._rows[k] for k in keys], keys)
        if keep:
            for k, row in made.items():
                self._put(k, row)
        return run

    def add(self, seqs: Sequence[Sequence[int]], chunk_size: int = 64) -> None:
        """Run and store ``seqs`` ahead of the calls that will ask for them (nothing assembled).
        Sequences that share a first ``MIN_SHARED`` tokens or more (a template's words before
        its entity) run that prefix once and extend it."""
        fresh = list(dict.fromkeys(tuple(int(t) for t in s) for s in seqs))
        fresh = [k for k in fresh if k not in self._rows]
        if not fresh:
            return
        shared = shared_heads(fresh, MIN_SHARED)
        tops = [h for h in dict.fromkeys(shared.values()) if h not in self._rows]
        if tops:
            for k, row in self._compute(tops, {}, chunk_size).items():
                self._put(k, row)
        heads = {k: h for k, h in shared.items() if h in self._rows}
        for k, row in self._compute(fresh, heads, chunk_size).items():
            self._put(k, row)

    def _compute(self, fresh: list[tuple[int, ...]], heads: dict[tuple[int, ...], tuple[int, ...]],
                 chunk_size: int) -> dict[tuple[int, ...], _Row]:
        """Rows of ``fresh``: those in ``heads`` extend their stored head, the others run whole
        through the engine's batching path."""
        made: dict[tuple[int, ...], _Row] = {}
        longer = [k for k in fresh if k in heads]
        plain = sorted((k for k in fresh if k not in heads), key=len)  # similar lengths share a batch
        if plain:
            run = self.engine.run(TokenBatch.from_ids(plain, self.engine.pad_id), chunk_size=chunk_size, sites=self.sites)
            made.update(zip(plain, self._split(run)))
            self.computed_tokens += sum(len(k) for k in plain)
        if longer:
            from harness.models.batching import run_batched

            longer.sort(key=lambda k: (len(heads[k]), len(k)))  # similar starts share a batch
            extend = lambda part: self._extend(list(part), [heads[k] for k in part])  # noqa: E731
            if self.engine.sizer is not None:
                rows = run_batched(longer, self.engine.sizer, extend, default=chunk_size)
            else:
                rows = [r for lo in range(0, len(longer), chunk_size) for r in extend(longer[lo: lo + chunk_size])]
            made.update(zip(longer, rows))
        return made

    def _extend(self, seqs: list[tuple[int, ...]], heads: list[tuple[int, ...]]) -> list[_Row]:
        """Rows of ``seqs`` whose ``heads`` are stored: each runs only its own new columns.

        Row ``i``'s stored head (``H_i`` columns) is laid out left-padded to the longest head,
        its new tokens left-aligned after it, with position ids ``H_i, H_i + 1, ...``: the
        attention each new token sees is that of the whole sequence's run."""
        from transformers import DynamicCache

        from harness.whitebox.hooks import site_hooks

        eng = self.engine
        dev = eng.device
        old = [self._rows[h] for h in heads]
        hl = torch.tensor([len(h) for h in heads], device=dev)
        n = torch.tensor([len(k) - len(h) for k, h in zip(seqs, heads)], device=dev)
        prefix, width = int(hl.max()), int(n.max())
        window = getattr(eng.model.config, "sliding_window", None)
        if window and prefix + width > window:  # the window counts columns: padding would shift it
            run = eng.run(TokenBatch.from_ids(seqs, eng.pad_id), chunk_size=len(seqs), sites=self.sites)
            self.computed_tokens += sum(map(len, seqs))
            return self._split(run)
        B = len(seqs)
        ids = torch.full((B, width), eng.pad_id, dtype=torch.long)
        for i, (k, h) in enumerate(zip(seqs, heads)):
            ids[i, : len(k) - len(h)] = torch.tensor(k[len(h):])
        cols = torch.arange(width, device=dev)
        real_new = (cols[None] < n[:, None]).long()
        real_old = (torch.arange(prefix, device=dev)[None] >= (prefix - hl)[:, None]).long()
        past = []
        for li in range(len(old[0].keys)):
            ref = old[0].keys[li]
            keys = ref.new_zeros((B, ref.shape[0], prefix, ref.shape[2]))
            values = torch.zeros_like(keys)
            for i, r in enumerate(old):
                keys[i, :, prefix - r.keys[li].shape[1]:] = r.keys[li]
                values[i, :, prefix - r.values[li].shape[1]:] = r.values[li]
            past.append((keys, values))
        with torch.no_grad(), site_hooks(eng.layout, read=self.sites) as states:
            out = eng.layout.base(
                input_ids=ids.to(dev), attention_mask=torch.cat([real_old, real_new], 1),
                position_ids=hl[:, None] + cols[None], use_cache=True,
                past_key_values=DynamicCache(ddp_cache_data=past, config=eng.model.config),
            )
        self.computed_tokens += int(n.sum())
        self.reused_tokens += int(hl.sum())
        layers = out.past_key_values.layers
        rows = []
        for i, r in enumerate(old):
            m = int(n[i])
            rows.append(_Row(
                states={s: torch.cat([r.states[s], states[s][i, :m]]) for s in self.sites},
                keys=[torch.cat([r.keys[li], layer.keys[i, :, prefix: prefix + m]], 1) for li, layer in enumerate(layers)],
                values=[torch.cat([r.values[li], layer.values[i, :, prefix: prefix + m]], 1) for li, layer in enumerate(layers)],
                final=torch.cat([r.final, out.last_hidden_state[i, :m]]),
            ))
        return rows

    # -- rows ------------------------------------------------------------------------------
    def _split(self, run: CachedRun) -> list[_Row]:
        """Each example's own columns, copied (a row must not pin its batch's tensors)."""
        rows = []
        for i, n in enumerate(run.batch.lengths):
            rows.append(_Row(
                states={s: run.states[s][i, :n].clone() for s in self.sites},
                keys=[k[i, :, :n].clone() for k in run.keys],
                values=[v[i, :, :n].clone() for v in run.values],
                final=run.final[i, :n].clone(),
            ))
        return rows

    def _assemble(self, rows: list[_Row], seqs: list[tuple[int, ...]]) -> CachedRun:
        batch = TokenBatch.from_ids(seqs, self.engine.pad_id)
        width = batch.input_ids.shape[1]

        def stack(parts: list[torch.Tensor], dim: int) -> torch.Tensor:
            shape = list(parts[0].shape)
            shape[dim] = width
            out = parts[0].new_zeros([len(parts), *shape])
            for i, p in enumerate(parts):
                out[i].narrow(dim, 0, p.shape[dim]).copy_(p)
            return out

        ref = rows[0]
        states = []
        for s in range(self.engine.num_sites):
            states.append(stack([r.states[s] for r in rows], 0) if s in ref.states else ref.final.new_zeros(len(rows), width, 0))
        return CachedRun(
            batch=batch,
            states=states,
            keys=[stack([r.keys[i] for r in rows], 1) for i in range(len(ref.keys))],
            values=[stack([r.values[i] for r in rows], 1) for i in range(len(ref.values))],
            final=stack([r.final for r in rows], 0),
        )

    def _put(self, key: tuple[int, ...], row: _Row) -> None:
        size = row.nbytes
        if size > self.max_bytes or key in self._rows:
            return
        self._rows[key] = row
        self._nbytes += size
        while self._nbytes > self.max_bytes and self._rows:
            _, old = self._rows.popitem(last=False)
            self._nbytes -= old.nbytes
