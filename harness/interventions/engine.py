"""The interchange-intervention engine: run a frozen causal LM once, then re-run only what an
intervention can change.

An intervention at site ``l`` (residual stream after block ``l``; site 0 = embeddings) and
token position ``p`` of a base input cannot change

* anything below site ``l`` (those blocks do not see it), nor
* any position before ``p`` at any layer (causal attention).

:meth:`InterchangeEngine.run` therefore runs each input once and keeps its residual states at
every site plus the attention keys/values of every layer (:class:`CachedRun`). An intervention
then starts from the cached site-``l`` states of positions ``>= p``, runs only blocks
``l+1..L`` on those positions (attending to the cached keys/values of earlier positions) and
unembeds only the positions read. :meth:`InterchangeEngine.intervene_full` is the plain
reference: full forwards with a hook, used by the equivalence tests and the speed benchmark.

Conventions follow :mod:`harness.models.base`: sites are numbered like ``hidden_states`` and
are pre-final-norm; positions index each example's own tokens (batches are right-padded).
The model is used in ``eval()`` mode and never modified except for the duration of a call.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

import torch
from torch import nn

from harness.interventions.tokens import TokenBatch

if TYPE_CHECKING:  # pragma: no cover
    from transformers import PreTrainedModel

    from harness.models.hf import HFAdapter

#: fn(h_base, h_source) -> new base state; all (B, d). Modules with parameters may be trained.
#: The same signature as :class:`harness.models.base.Intervention`'s ``fn``: one way to intervene.
InterchangeFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class CachedRun:
    """One clean forward of a token batch: states at every site and keys/values of every layer.

    ``states[s]`` is (B, T, d) at site ``s``; ``keys[i]``/``values[i]`` are (B, H_kv, T, d_head)
    of block ``i`` (0-based); ``final[b, t]`` is the final-norm output (what the LM head reads).
    """

    batch: TokenBatch
    states: list[torch.Tensor]
    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    final: torch.Tensor

    def __len__(self) -> int:
        return len(self.batch)

    def at(self, site: int, positions: Sequence[int] | torch.Tensor) -> torch.Tensor:
        """States (B, d) at ``site``, one position per example (negatives from each end)."""
        if self.states[site].shape[-1] == 0:
            raise ValueError(f"this run kept no states at site {site} (see InterchangeEngine.run(..., sites=...))")
        pos = self.batch.resolve(positions).to(self.final.device)
        return self.states[site][torch.arange(len(pos), device=pos.device), pos]

    def select(self, rows: Sequence[int] | torch.Tensor, sites: Sequence[int] | None = None) -> CachedRun:
        """The sub-run of examples ``rows`` (trimmed to their longest length); ``sites`` limits
        which sites' states are copied (the others become empty)."""
        rows_t = torch.as_tensor(rows, dtype=torch.long)
        batch = self.batch.select(rows_t)
        width = batch.input_ids.shape[1]
        r = rows_t.to(self.final.device)
        keep = None if sites is None else set(sites)
        return CachedRun(
            batch=batch,
            states=[s[r, :width] if keep is None or i in keep else s[r, :width, :0] for i, s in enumerate(self.states)],
            keys=[k[r, :, :width] for k in self.keys],
            values=[v[r, :, :width] for v in self.values],
            final=self.final[r, :width],
        )

    @staticmethod
    def concat(runs: Sequence[CachedRun], pad_id: int = 0) -> CachedRun:
        """Join runs of disjoint examples (padding each to the widest)."""
        width = max(r.batch.input_ids.shape[1] for r in runs)

        def pad(t: torch.Tensor, dim: int) -> torch.Tensor:
            extra = width - t.shape[dim]
            if extra == 0:
                return t
            shape = list(t.shape)
            shape[dim] = extra
            return torch.cat([t, t.new_zeros(shape)], dim=dim)

        ids = torch.cat([
            torch.nn.functional.pad(r.batch.input_ids, (0, width - r.batch.input_ids.shape[1]), value=pad_id) for r in runs
        ])
        return CachedRun(
            batch=TokenBatch(ids, [n for r in runs for n in r.batch.lengths]),
            states=[torch.cat([pad(r.states[s], 1) for r in runs]) for s in range(len(runs[0].states))],
            keys=[torch.cat([pad(r.keys[i], 2) for r in runs]) for i in range(len(runs[0].keys))],
            values=[torch.cat([pad(r.values[i], 2) for r in runs]) for i in range(len(runs[0].values))],
            final=torch.cat([pad(r.final, 1) for r in runs]),
        )


class InterchangeEngine:
    """Interchange interventions on a transformers causal LM (Llama, Gemma, GPT-2, GPT-NeoX, ...).

    Built on an adapter (``adapter.interchange_engine()``: its layout, pad id and batch sizer, so
    ``--batch-size`` and out-of-memory halving apply to clean runs) or, in tests, on a bare model.
    """

    def __init__(self, adapter_or_model: HFAdapter | PreTrainedModel, pad_id: int | None = None):
        from harness.whitebox.layout import Layout

        if isinstance(adapter_or_model, nn.Module):
            model, self.sizer = adapter_or_model, None
            self.pad_id = 0 if pad_id is None else pad_id
        else:
            model, self.sizer = adapter_or_model.model, adapter_or_model.sizer
            self.pad_id = adapter_or_model.pad_token_id if pad_id is None else pad_id
        self.model = model.eval()
        self.layout = Layout.of(model)
        self.num_layers = self.layout.num_layers
        self.norm = self.layout.norm
        self.device = next(model.parameters()).device

    @property
    def num_sites(self) -> int:
        return self.num_layers + 1

    # --- clean runs -------------------------------------------------------------------------

    @torch.no_grad()
    def run(self, batch: TokenBatch, chunk_size: int = 64, sites: Sequence[int] | None = None) -> CachedRun:
        """Run ``batch`` once (in model batches) and cache states and every layer's K/V.

        ``sites`` keeps the states of those sites only (the others become empty (B, T, 0)
        tensors), to save memory when a caller intervenes at a few sites. Batches come from the
        adapter's sizer (``chunk_size`` is the preference under ``auto`` on a CPU) with
        out-of-memory halving; on a bare model ``chunk_size`` is used as is.
        """
        from harness.models.batching import run_batched

        keep = set(range(self.num_sites)) if sites is None else {int(s) for s in sites}
        for s in keep:
            self._check_site(s)

        def chunk(rows: Sequence[int]) -> list[CachedRun | None]:
            part = self._run_chunk(batch.select(list(rows)), keep)
            return [part] + [None] * (len(rows) - 1)  # one run per chunk; run_batched counts rows

        rows = list(range(len(batch)))
        if self.sizer is not None:
            parts = [p for p in run_batched(rows, self.sizer, chunk, default=chunk_size) if p is not None]
        else:
            parts = [self._run_chunk(batch.select(rows[i : i + chunk_size]), keep) for i in range(0, len(rows), chunk_size)]
        return parts[0] if len(parts) == 1 else CachedRun.concat(parts, self.pad_id)

    def _run_chunk(self, batch: TokenBatch, keep: set[int]) -> CachedRun:
        from harness.whitebox.hooks import site_hooks

        with site_hooks(self.layout, read=range(self.num_sites)) as states:
            out = self.layout.base(
                input_ids=batch.input_ids.to(self.device),
                attention_mask=batch.attention_mask.to(self.device),
                use_cache=True,
            )
        cache = out.past_key_values
        width = batch.input_ids.shape[1]
        keys = [layer.keys for layer in cache.layers]
        values = [layer.values for layer in cache.layers]
        if any(k.shape[2] != width for k in keys):
            raise NotImplementedError("inputs longer than a sliding attention window are not supported by the cached engine")
        kept = [states[s] if s in keep else states[s][:, :, :0] for s in range(self.num_sites)]
        return CachedRun(batch, kept, keys, values, out.last_hidden_state)

    @torch.no_grad()
    def site_states(self, batch: TokenBatch, site: int) -> torch.Tensor:
        """(B, T, d) clean residual states at ``site``, running only the blocks below it (no
        K/V kept): what a featurizer fit or a source read needs, at ``site / L`` of a full run."""
        from harness.whitebox.hooks import site_hooks

        self._check_site(site)
        with site_hooks(self.layout, read=[site], stop_at=site) as states:
            self.layout.base(input_ids=batch.input_ids.to(self.device),
                             attention_mask=batch.attention_mask.to(self.device), use_cache=False)
        return states[site]

    def clean_logits(self, run: CachedRun, read_positions: Sequence[int] | torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, V) of the clean run at ``read_positions`` (default: each example's last token)."""
        read = _resolve_reads(run.batch, read_positions).to(self.device)
        return self._head(run.final[_rows_for(read), read])

    # --- interventions ----------------------------------------------------------------------

    def intervene(
        self,
        run: CachedRun,
        site: int,
        positions: Sequence[int] | torch.Tensor,
        source: torch.Tensor,
        fn: InterchangeFn,
        read_positions: Sequence[int] | torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits (B, V) at ``read_positions`` after replacing the site-``site`` state at
        ``positions`` by ``fn(h_base, source)``; ``source`` is (B, d), e.g. ``src_run.at(site, p)``.
        ``read_positions`` of shape (B, k) give logits (B, k, V) (e.g. teacher-forced targets).

        Gradients flow into ``fn``'s parameters when grad mode is on; the model is frozen.
        """
        self._check_site(site)
        batch = run.batch
        pos = batch.resolve(positions).to(self.device)
        read = _resolve_reads(batch, read_positions).to(self.device)
        if run.states[site].shape[-1] == 0:
            raise ValueError(f"this run kept no states at site {site} (see run(..., sites=...))")
        if site != self.num_layers:
            from harness.interventions.row_resume import resume_rows, row_windows, worth_it

            if worth_it(self, *row_windows(pos, read)):  # rows whose windows differ: each runs its own
                with _frozen(self.model):
                    return self._head(resume_rows(self, run, site, pos, source, fn, read))
        start = min(int(pos.min()), int(read.min()))
        stop = max(int(pos.max()), int(read.max())) + 1
        rows = torch.arange(len(batch), device=self.device)
        hidden = run.states[site][:, start:stop]
        new = fn(hidden[rows, pos - start], source.to(hidden.dtype))
        hidden = hidden.index_put((rows, pos - start), new)
        with _frozen(self.model):
            if site == self.num_layers:
                final = self.norm(hidden) if self.norm is not None else hidden
            else:
                final = self._resume(run, site, hidden, start, stop)
            return self._head(final[_rows_for(read), read - start])

    def _resume(self, run: CachedRun, site: int, hidden: torch.Tensor, start: int, stop: int, return_cache: bool = False):
        """Run blocks ``site+1..L`` (1-based) on positions ``start:stop`` given cached earlier K/V.

        Returns the final-norm states (B, stop-start, d), and with ``return_cache`` also a
        DynamicCache of every layer's keys/values for positions ``0:stop`` after the edit.
        """
        from transformers import DynamicCache

        batch = run.batch
        ids = batch.input_ids[:, start:stop].to(self.device)
        mask = batch.attention_mask[:, :stop].to(self.device)
        position_ids = torch.arange(start, stop, device=self.device)[None].expand(len(batch), -1)
        cache = None
        if start > 0 or return_cache:
            prefix = [(k[:, :, :start], v[:, :, :start]) for k, v in zip(run.keys, run.values)]
            cache = DynamicCache(ddp_cache_data=prefix, config=self.model.config) if start > 0 else DynamicCache(config=self.model.config)
        from harness.whitebox.hooks import site_hooks

        with site_hooks(self.layout, feed=(site, hidden)):
            out = self.layout.base(
                input_ids=ids, attention_mask=mask, position_ids=position_ids,
                past_key_values=cache, use_cache=cache is not None,
            )
        if not return_cache:
            return out.last_hidden_state
        layers = []
        for i, layer in enumerate(out.past_key_values.layers):
            if i < site:  # blocks below the site were skipped: their clean K/V still hold
                layers.append((run.keys[i][:, :, :stop], run.values[i][:, :, :stop]))
            else:
                layers.append((layer.keys, layer.values))
        return out.last_hidden_state, DynamicCache(ddp_cache_data=layers, config=self.model.config)

    def intervened_prefill(self, run: CachedRun, site: int, positions, source: torch.Tensor, fn: InterchangeFn, max_new_tokens: int):
        """The decode loop's prefill after an intervention, from the cached partial re-run."""
        from harness.interventions.generation import intervened_prefill

        return intervened_prefill(self, run, site, positions, source, fn, max_new_tokens)

    def decode_step(self):
        """The decoding forward for :func:`harness.whitebox.decode.decode` (model frozen)."""
        from harness.whitebox.decode import hf_step

        step = hf_step(self.layout)

        def frozen_step(*args):
            with _frozen(self.model):
                return step(*args)

        return frozen_step

    def _head(self, final_states: torch.Tensor) -> torch.Tensor:
        return self.layout.head_logits(final_states)

    def _check_site(self, site: int) -> None:
        self.layout.check_site(int(site))

    # --- the reference: full forwards with hooks ---------------------------------------------

    def intervene_full(
        self,
        base: TokenBatch,
        source: TokenBatch,
        site: int,
        base_positions: Sequence[int] | torch.Tensor,
        source_positions: Sequence[int] | torch.Tensor,
        fn: InterchangeFn,
        read_positions: Sequence[int] | torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Same result as :meth:`intervene`, computed the plain way: a full source forward to
        read its state, then a full base forward with a hook at the site. No caching."""
        self._check_site(site)
        with torch.no_grad():
            src_states = self._full_states(source, site)
        spos = source.resolve(source_positions).to(self.device)
        rows = torch.arange(len(source), device=self.device)
        src = src_states[rows, spos]
        bpos = base.resolve(base_positions).to(self.device)
        read = _resolve_reads(base, read_positions).to(self.device)

        from harness.whitebox.hooks import position_edit, site_hooks

        edit = position_edit(bpos, lambda old: fn(old, src))
        with _frozen(self.model), site_hooks(self.layout, edit={site: [edit]}):
            logits = self.model(input_ids=base.input_ids.to(self.device), attention_mask=base.attention_mask.to(self.device)).logits
        return logits[_rows_for(read), read]

    def _full_states(self, batch: TokenBatch, site: int) -> torch.Tensor:
        from harness.whitebox.hooks import site_hooks

        with site_hooks(self.layout, read=[site]) as states:
            self.layout.base(input_ids=batch.input_ids.to(self.device), attention_mask=batch.attention_mask.to(self.device))
        return states[site]


# --- helpers ------------------------------------------------------------------------------------


def _resolve_reads(batch: TokenBatch, reads: Sequence[int] | torch.Tensor | None) -> torch.Tensor:
    """(B,) or (B, k) absolute read positions (default: each example's last token)."""
    if reads is None:
        return batch.resolve([-1] * len(batch))
    reads = torch.as_tensor(reads, dtype=torch.long)
    if reads.ndim == 2:
        return torch.stack([batch.resolve(reads[:, j]) for j in range(reads.shape[1])], dim=1)
    return batch.resolve(reads)


def _rows_for(read: torch.Tensor) -> torch.Tensor:
    rows = torch.arange(read.shape[0], device=read.device)
    return rows[:, None] if read.ndim == 2 else rows


@contextlib.contextmanager
def _frozen(model: nn.Module) -> Iterator[None]:
    """Stop gradients into the model's weights for the duration (restored afterwards)."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
