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

        Stored sequences are assembled, the others computed through the engine's batching path;
        with ``extends``, sequence ``i`` whose first ``extends[i]`` tokens are stored runs only
        the columns after them. ``keep`` stores the newly computed sequences.
        """
        keys = [tuple(int(t) for t in s) for s in seqs]
        fresh = list(dict.fromkeys(k for k in keys if k not in self._rows))
        made: dict[tuple[int, ...], _Row] = {}
        if fresh:
            given = dict(zip(keys, extends)) if extends is not None else {}
            heads = {k: k[: int(given[k])] for k in fresh if k in given}
            longer = [k for k in fresh if 0 < len(heads.get(k, ())) < len(k) and heads[k] in self._rows]
            plain = [k for k in fresh if k not in set(longer)]
            if plain:
                run = self.engine.run(TokenBatch.from_ids(plain, self.engine.pad_id), chunk_size=chunk_size, sites=self.sites)
                made.update(zip(plain, self._split(run)))
                self.computed_tokens += sum(len(k) for k in plain)
            if longer:
                from harness.models.batching import run_batched

                longer.sort(key=lambda k: (len(heads[k]), len(k)))  # similar starts share a batch
                extend = lambda part: self._split(self._extend(list(part), [heads[k] for k in part]))  # noqa: E731
                if self.engine.sizer is not None:
                    rows = run_batched(longer, self.engine.sizer, extend, default=chunk_size)
                else:
                    rows = [r for lo in range(0, len(longer), chunk_size) for r in extend(longer[lo: lo + chunk_size])]
                made.update(zip(longer, rows))
        for k in keys:
            if k in self._rows:
                self._rows.move_to_end(k)
                self.reused_tokens += len(k)
        run = self._assemble([made[k] if k in made else self._rows[k] for k in keys], keys)
        if keep:
            for k, row in made.items():
                self._put(k, row)
        return run

    def _extend(self, seqs: list[tuple[int, ...]], heads: list[tuple[int, ...]]) -> CachedRun:
        """Runs of ``seqs`` whose ``heads`` are stored: only columns from the shortest head on."""
        from transformers import DynamicCache

        from harness.whitebox.hooks import site_hooks

        eng = self.engine
        start = min(len(h) for h in heads)
        prefix = self._assemble([self._rows[h] for h in heads], heads)
        batch = TokenBatch.from_ids(seqs, eng.pad_id)
        dev = eng.device
        past = [(k[:, :, :start], v[:, :, :start]) for k, v in zip(prefix.keys, prefix.values)]
        width = batch.input_ids.shape[1]
        position_ids = torch.arange(start, width, device=dev)[None].expand(len(batch), -1)
        with torch.no_grad(), site_hooks(eng.layout, read=self.sites) as states:
            out = eng.layout.base(
                input_ids=batch.input_ids[:, start:].to(dev), attention_mask=batch.attention_mask.to(dev),
                position_ids=position_ids, past_key_values=DynamicCache(ddp_cache_data=past, config=eng.model.config),
                use_cache=True,
            )
        if any(layer.keys.shape[2] != width for layer in out.past_key_values.layers):
            raise NotImplementedError("inputs longer than a sliding attention window are not supported by the cached engine")
        self.computed_tokens += sum(len(s) - start for s in seqs)
        self.reused_tokens += start * len(seqs)
        kept = {s: torch.cat([prefix.states[s][:, :start], states[s]], 1) for s in self.sites}
        return CachedRun(
            batch=batch,
            states=[kept[s] if s in kept else prefix.states[s][:, :0] for s in range(eng.num_sites)],
            keys=[layer.keys for layer in out.past_key_values.layers],
            values=[layer.values for layer in out.past_key_values.layers],
            final=torch.cat([prefix.final[:, :start], out.last_hidden_state], 1),
        )

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
