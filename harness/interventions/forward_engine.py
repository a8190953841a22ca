"""The interchange-engine interface computed by full forwards through any adapter's white-box
``forward_ids`` (site reads and edits), for backends without the cached partial re-run (nnsight,
whose traces run the whole model). Same methods and shapes as :class:`InterchangeEngine`, so
CausalGym, RAVEL and training code run unchanged; only slower, since nothing is cached but the
clean states and logits.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from harness.interventions.engine import CachedRun, InterchangeFn, _resolve_reads, _rows_for
from harness.interventions.tokens import TokenBatch
from harness.models.base import Intervention
from harness.whitebox.decode import Prefilled


class ForwardEngine:
    """Interchange interventions as full forwards with an edit (``adapter.forward_ids``)."""

    def __init__(self, adapter: Any):
        self.adapter = adapter
        self.sizer = adapter.sizer
        self.num_layers = adapter.num_layers
        self.pad_id = adapter.pad_token_id
        self.device = adapter.device

    @property
    def num_sites(self) -> int:
        return self.num_layers + 1

    def _check_site(self, site: int) -> None:
        if not 0 <= int(site) <= self.num_layers:
            raise IndexError(f"site {site} is outside 0..{self.num_layers} (0 = embeddings, {self.num_layers} = last block)")

    def _ids(self, batch: TokenBatch) -> tuple[torch.Tensor, torch.Tensor]:
        return batch.input_ids.to(self.device), batch.attention_mask.to(self.device)

    @torch.no_grad()
    def run(self, batch: TokenBatch, chunk_size: int = 64, sites: Sequence[int] | None = None) -> CachedRun:
        """States at ``sites`` (default: all) and the clean logits of every position (kept in
        ``final``); no keys/values (nothing is re-run from a cache)."""
        from harness.models.batching import run_batched

        keep = sorted(range(self.num_sites) if sites is None else {int(s) for s in sites})
        for s in keep:
            self._check_site(s)

        def chunk(rows: Sequence[int]) -> list[CachedRun | None]:
            part = batch.select(list(rows))
            out = self.adapter.forward_ids(*self._ids(part), part.lengths, sites=keep)
            states = [out.states[s] if s in out.states else out.logits.new_zeros(*out.logits.shape[:2], 0) for s in range(self.num_sites)]
            return [CachedRun(part, states, [], [], out.logits)] + [None] * (len(rows) - 1)

        parts = [p for p in run_batched(list(range(len(batch))), self.sizer, chunk, default=chunk_size) if p is not None]
        return parts[0] if len(parts) == 1 else CachedRun.concat(parts, self.pad_id)

    @torch.no_grad()
    def site_states(self, batch: TokenBatch, site: int) -> torch.Tensor:
        """(B, T, d) clean residual states at ``site`` (a full forward: no early stop here)."""
        self._check_site(site)
        return self.adapter.forward_ids(*self._ids(batch), batch.lengths, sites=[int(site)]).states[int(site)]

    def clean_logits(self, run: CachedRun, read_positions: Sequence[int] | torch.Tensor | None = None) -> torch.Tensor:
        read = _resolve_reads(run.batch, read_positions).to(run.final.device)
        return run.final[_rows_for(read), read]

    def intervene(self, run: CachedRun, site: int, positions: Sequence[int] | torch.Tensor, source: torch.Tensor,
                  fn: InterchangeFn, read_positions: Sequence[int] | torch.Tensor | None = None) -> torch.Tensor:
        """Logits at ``read_positions`` after ``fn(h_base, source)`` at (``site``, ``positions``);
        gradients flow into ``fn`` when grad mode is on (the model's weights stay frozen)."""
        self._check_site(site)
        pos = run.batch.resolve(positions)
        read = _resolve_reads(run.batch, read_positions).to(self.device)
        edit = Intervention(site, pos, fn, source=source.to(self.device))
        out = self.adapter.forward_ids(*self._ids(run.batch), run.batch.lengths, interventions=[edit], grad=torch.is_grad_enabled())
        return out.logits[_rows_for(read), read]

    @torch.no_grad()
    def intervened_prefill(self, run: CachedRun, site: int, positions: Sequence[int] | torch.Tensor, source: torch.Tensor,
                           fn: InterchangeFn, max_new_tokens: int) -> Prefilled:
        """The decode loop's prefill: a full forward with the edit, keeping its KV cache."""
        self._check_site(site)
        pos = run.batch.resolve(positions)
        ids, mask = self._ids(run.batch)
        out = self.adapter.forward_ids(ids, mask, run.batch.lengths, interventions=[Intervention(site, pos, fn, source=source.to(self.device))],
                                       keep_cache=True)
        last = run.batch.resolve([-1] * len(run.batch)).to(out.logits.device)
        return Prefilled(out.cache, mask, out.logits[torch.arange(len(last), device=last.device), last])

    def decode_step(self):
        return self.adapter.decode_step()
