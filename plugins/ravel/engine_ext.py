"""What RAVEL needs on top of the shared interchange engine (:mod:`harness.interventions`).

* **Multi-token targets.** RAVEL's values span up to 3 tokens and its trained methods are
  fit with teacher forcing on all of them, so one intervention must be read at several
  positions (the last prompt token and the first target tokens appended to it).
  :func:`intervene_reads` is the engine's ``intervene`` with a (B, k) grid of read positions;
  :class:`MultiReadProblem` is ``CachedProblem`` with (B, k) targets (``-100`` = padding).
* **Memory.** A ``CachedRun`` keeps states at every site; RAVEL intervenes at one site, so
  :func:`run_for_site` drops the other sites' states right after the clean run.
* **Token ids consistent with the adapter.** :func:`encode_prompts` tokenises exactly as
  ``HFAdapter.tok_encode`` (BOS when the adapter adds one) and finds the entity's last token
  from character offsets in the same pass.

These are candidates for the shared engine (see the plugin README).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import torch

from harness.interventions.engine import CachedRun, InterchangeEngine, InterchangeFn
from harness.interventions.tokens import TokenBatch
from plugins.ravel.positions import last_token_overlapping

IGNORE = -100


def encode_prompts(adapter: Any, texts: Sequence[str], spans: Sequence[tuple[int, int]]) -> tuple[list[list[int]], list[int]]:
    """Token ids of each text as the adapter would run it, and the entity's last-token index."""
    tok = adapter.tokenizer
    if not getattr(tok, "is_fast", False):
        raise TypeError(f"{type(tok).__name__} is not a fast tokenizer; RAVEL needs character offsets to find entities")
    enc = tok(list(texts), add_special_tokens=False, return_offsets_mapping=True)
    bos = [tok.bos_token_id] if getattr(adapter, "add_bos_token", False) and tok.bos_token_id is not None else []
    ids, positions = [], []
    for seq, offsets, (start, end) in zip(enc["input_ids"], enc["offset_mapping"], spans):
        ids.append(bos + list(seq))
        positions.append(len(bos) + last_token_overlapping(offsets, start, end))
    return ids, positions


@contextlib.contextmanager
def frozen(model: torch.nn.Module) -> Iterator[None]:
    """No gradients into the model's weights for the duration (flags restored afterwards)."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def run_for_site(engine: InterchangeEngine, batch: TokenBatch, site: int, chunk_size: int = 32) -> CachedRun:
    """A clean cached run that keeps the residual states of ``site`` only (K/V of all layers)."""
    parts = []
    for start in range(0, len(batch), chunk_size):
        run = engine.run(batch.select(range(start, min(len(batch), start + chunk_size))), chunk_size=chunk_size)
        run.states = [s if i == site else s[:, :, :0] for i, s in enumerate(run.states)]
        parts.append(run)
    return parts[0] if len(parts) == 1 else CachedRun.concat(parts, engine.pad_id)


def intervene_reads(engine: InterchangeEngine, run: CachedRun, site: int, positions: torch.Tensor, source: torch.Tensor, fn: InterchangeFn, reads: torch.Tensor) -> torch.Tensor:
    """Logits (B, k, V) at ``reads`` (B, k) after swapping the site state at ``positions`` (B,).

    Same computation as ``InterchangeEngine.intervene`` (cached prefix K/V, only blocks above
    the site, only positions from the intervention on), read at several positions.
    """
    engine._check_site(site)
    dev = engine.device
    pos = positions.to(dev)
    reads = reads.to(dev)
    start = int(torch.minimum(pos, reads.min(dim=1).values).min())
    stop = int(reads.max()) + 1
    rows = torch.arange(len(run), device=dev)
    hidden = run.states[site][:, start:stop]
    new = fn(hidden[rows, pos - start], source.to(hidden.dtype))
    hidden = hidden.index_put((rows, pos - start), new)
    with frozen(engine.model):
        if site == engine.num_layers:
            final = engine.norm(hidden) if engine.norm is not None else hidden
        else:
            final = engine._resume(run, site, hidden, start, stop)
        picked = final[rows[:, None], reads - start]  # (B, k, d)
        return engine._head(picked)


@dataclass
class MultiReadProblem:
    """Base runs (prompt + target tokens but the last), source states, reads and targets."""

    engine: InterchangeEngine
    base: CachedRun
    site: int
    base_positions: torch.Tensor  # (B,)
    source_states: torch.Tensor  # (B, d)
    reads: torch.Tensor  # (B, k) absolute positions (padded by repeating the last read)
    targets: torch.Tensor  # (B, k) token ids, IGNORE where the target is shorter

    def __len__(self) -> int:
        return len(self.base)

    def logits(self, fn: InterchangeFn, rows: torch.Tensor | None = None) -> torch.Tensor:
        if rows is None:
            return intervene_reads(self.engine, self.base, self.site, self.base_positions, self.source_states, fn, self.reads)
        rows = torch.as_tensor(rows, dtype=torch.long)
        return intervene_reads(self.engine, self.base.select(rows), self.site, self.base_positions[rows], self.source_states[rows], fn, self.reads[rows])


def teacher_forced(prompt_ids: Sequence[Sequence[int]], targets: Sequence[Sequence[int]], max_tokens: int) -> tuple[list[list[int]], torch.Tensor, torch.Tensor]:
    """Inputs ``prompt + target[:-1]``, read positions and padded targets for teacher forcing."""
    seqs, reads, tgts = [], [], []
    for p, t in zip(prompt_ids, targets):
        t = list(t)[:max_tokens]
        if not t:
            raise ValueError("a training target has no tokens")
        seqs.append(list(p) + t[:-1])
        r = [len(p) - 1 + j for j in range(len(t))]
        reads.append(r + [r[-1]] * (max_tokens - len(r)))
        tgts.append(t + [IGNORE] * (max_tokens - len(t)))
    return seqs, torch.tensor(reads), torch.tensor(tgts)
