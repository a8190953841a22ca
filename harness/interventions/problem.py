"""An interchange *problem*: base inputs, source states, a site and positions, and what to read.

A problem answers one question, ``logits(fn, rows)``: the next-token logits at each base's
read position after intervening with ``fn``. Training (:mod:`harness.interventions.training`)
and featurizers only talk to this interface, so the same loop runs on the cached engine
(:class:`CachedProblem`) and on the plain full-forward-with-hooks reference
(:class:`HookedProblem`), which is what the equivalence test and the speed benchmark compare.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from harness.interventions.engine import CachedRun, InterchangeEngine, InterchangeFn, _resolve_reads
from harness.interventions.tokens import TokenBatch


@dataclass
class CachedProblem:
    """Intervene on cached base runs with source states read once from cached source runs.

    ``base_positions``/``source_positions`` are absolute per-example positions (B,);
    ``targets`` (B,) are token ids for training losses (optional for evaluation). With
    ``read_positions`` (B, k), logits are (B, k, V) and targets (B, k) (-100 = ignore).
    ``run_rows`` maps problem rows to rows of ``base`` when the problem uses a subset of a
    larger run (no copy of the run is made).
    """

    engine: InterchangeEngine
    base: CachedRun
    site: int
    base_positions: torch.Tensor
    source_states: torch.Tensor  # (B, d) at the site
    targets: torch.Tensor | None = None
    read_positions: torch.Tensor | None = None
    run_rows: torch.Tensor | None = None

    @classmethod
    def build(cls, engine: InterchangeEngine, base: CachedRun, source: CachedRun, site: int,
              base_positions: Sequence[int] | torch.Tensor, source_positions: Sequence[int] | torch.Tensor,
              targets: Sequence[int] | torch.Tensor | None = None,
              read_positions: Sequence[int] | torch.Tensor | None = None) -> CachedProblem:
        return cls(
            engine=engine, base=base, site=site,
            base_positions=base.batch.resolve(base_positions),
            source_states=source.at(site, source_positions),
            targets=None if targets is None else torch.as_tensor(targets, dtype=torch.long),
            read_positions=None if read_positions is None else _resolve_reads(base.batch, read_positions),
        )

    def __len__(self) -> int:
        return len(self.base_positions)

    def logits(self, fn: InterchangeFn, rows: Sequence[int] | torch.Tensor | None = None) -> torch.Tensor:
        if rows is None and self.run_rows is None:
            run = self.base
            pos, src, read = self.base_positions, self.source_states, self.read_positions
        else:
            rows = torch.arange(len(self)) if rows is None else torch.as_tensor(rows, dtype=torch.long)
            run_idx = rows if self.run_rows is None else self.run_rows[rows]
            run = self.base.select(run_idx, sites=[self.site])
            pos, src = self.base_positions[rows], self.source_states[rows.to(self.source_states.device)]
            read = None if self.read_positions is None else self.read_positions[rows]
        return self.engine.intervene(run, self.site, pos, src, fn, read_positions=read)


@dataclass
class HookedProblem:
    """The reference implementation: every call runs full source and base forwards with a hook."""

    engine: InterchangeEngine
    base: TokenBatch
    source: TokenBatch
    site: int
    base_positions: torch.Tensor
    source_positions: torch.Tensor
    targets: torch.Tensor | None = None
    read_positions: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.base)

    def logits(self, fn: InterchangeFn, rows: Sequence[int] | torch.Tensor | None = None) -> torch.Tensor:
        base, source = self.base, self.source
        bpos, spos, read = self.base_positions, self.source_positions, self.read_positions
        if rows is not None:
            rows = torch.as_tensor(rows, dtype=torch.long)
            base, source = base.select(rows), source.select(rows)
            bpos, spos = bpos[rows], spos[rows]
            read = None if read is None else read[rows]
        return self.engine.intervene_full(base, source, self.site, bpos, spos, fn, read_positions=read)
