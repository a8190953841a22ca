"""Run the model for RAVEL: greedy outputs (clean or intervened), entity states, training problems.

One :class:`RavelRunner` serves one model and one intervention site. Clean and intervened
generation share :func:`greedy`, so an identity intervention reproduces the clean outputs
exactly (a test checks this). Generation re-runs the full prefix each step (3 steps, no KV
cache) with the intervention applied at the entity's last token of the prompt, whose
position does not move when tokens are appended.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch

from harness.interventions.engine import InterchangeEngine
from harness.interventions.tokens import TokenBatch
from harness.models.base import Intervention
from harness.models.hooks import residual_hooks
from harness.models.layers import base_model, unembed
from plugins.ravel.engine_ext import MultiReadProblem, encode_prompts, run_for_site, teacher_forced
from plugins.ravel.instance import Completion, RavelExample
from plugins.ravel.matching import gives_value
from plugins.ravel.metrics import Outcome

InterchangeFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _eos_ids(adapter: Any) -> set[int]:
    tok = adapter.tokenizer
    ids = {tok.eos_token_id}
    gen_cfg = getattr(adapter.model, "generation_config", None)
    extra = getattr(gen_cfg, "eos_token_id", None)
    if isinstance(extra, int):
        ids.add(extra)
    elif isinstance(extra, (list, tuple)):
        ids.update(extra)
    return {i for i in ids if i is not None}


@torch.no_grad()
def greedy(
    adapter: Any,
    prompts: Sequence[Sequence[int]],
    max_new_tokens: int = 3,
    batch_size: int = 32,
    site: int | None = None,
    positions: Sequence[int] | None = None,
    fn: InterchangeFn | None = None,
    sources: torch.Tensor | None = None,
) -> list[Completion]:
    """Greedy continuations of token-id prompts; with ``fn``, intervene at ``site``/``positions``
    using ``fn(h_base, sources[i])`` on every forward (the prompt's entity token)."""
    tok = adapter.tokenizer
    eos = _eos_ids(adapter)
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    inner = base_model(adapter.model)
    out: list[Completion] = []
    for start in range(0, len(prompts), batch_size):
        rows = range(start, min(len(prompts), start + batch_size))
        seqs = [list(prompts[i]) for i in rows]
        new: list[list[int]] = [[] for _ in rows]
        done = [False] * len(seqs)
        for _ in range(max_new_tokens):
            batch = TokenBatch.from_ids(seqs, pad)
            ivs = []
            if fn is not None:
                src = sources[start : start + len(seqs)].to(adapter.device)
                pos = [positions[i] for i in rows]
                ivs = [Intervention(site, pos, lambda h, src=src: fn(h, src.to(h.dtype)))]
            with residual_hooks(adapter.blocks, (), ivs, batch.lengths):
                hidden = inner(input_ids=batch.input_ids.to(adapter.device), attention_mask=batch.attention_mask.to(adapter.device)).last_hidden_state
            last = hidden[torch.arange(len(seqs), device=hidden.device), batch.last_positions.to(hidden.device)]
            nxt = unembed(adapter.model, last, False).argmax(-1).tolist()
            for j, t in enumerate(nxt):
                if not done[j]:
                    if t in eos:
                        done[j] = True
                    else:
                        new[j].append(t)
                seqs[j].append(t)
            if all(done):
                break
        for j, toks in enumerate(new):
            prefixes = tuple(tok.decode(toks[:k], skip_special_tokens=True) for k in range(1, len(toks) + 1))
            text = prefixes[-1] if prefixes else ""
            out.append(Completion(text, tuple(toks), truncated=not done[j] and len(toks) >= max_new_tokens, prefix_texts=prefixes))
    return out


class RavelRunner:
    """Model-side work for one intervention site (``site`` as in the adapter convention)."""

    def __init__(self, adapter: Any, site: int, max_new_tokens: int = 3, batch_size: int = 32):
        if not 0 <= site <= adapter.num_layers:
            raise ValueError(f"layer {site} is outside 0..{adapter.num_layers} for {adapter.name}")
        self.adapter, self.site = adapter, site
        self.max_new_tokens, self.batch_size = max_new_tokens, batch_size
        self.engine = InterchangeEngine.from_adapter(adapter)
        self._encoded: dict[tuple[str, tuple[int, int]], tuple[list[int], int]] = {}
        self._states: dict[tuple[str, tuple[int, int]], torch.Tensor] = {}

    # -- tokens and states ---------------------------------------------------------------
    def encode(self, texts: Sequence[str], spans: Sequence[tuple[int, int]]) -> tuple[list[list[int]], list[int]]:
        keys = [(t, tuple(s)) for t, s in zip(texts, spans)]
        missing = list(dict.fromkeys(k for k in keys if k not in self._encoded))
        if missing:
            ids, pos = encode_prompts(self.adapter, [k[0] for k in missing], [k[1] for k in missing])
            self._encoded.update({k: (i, p) for k, i, p in zip(missing, ids, pos)})
        return [self._encoded[k][0] for k in keys], [self._encoded[k][1] for k in keys]

    @torch.no_grad()
    def entity_states(self, texts: Sequence[str], spans: Sequence[tuple[int, int]]) -> torch.Tensor:
        """(N, d) residual states at the site, at each text's entity last token (memoised)."""
        keys = [(t, tuple(s)) for t, s in zip(texts, spans)]
        missing = list(dict.fromkeys(k for k in keys if k not in self._states))
        inner = base_model(self.adapter.model)
        for start in range(0, len(missing), self.batch_size):
            chunk = missing[start : start + self.batch_size]
            ids, pos = self.encode([k[0] for k in chunk], [k[1] for k in chunk])
            batch = TokenBatch.from_ids(ids, self.engine.pad_id)
            with residual_hooks(self.adapter.blocks, [self.site], (), batch.lengths) as states:
                inner(input_ids=batch.input_ids.to(self.adapter.device), attention_mask=batch.attention_mask.to(self.adapter.device))
            h = states[self.site][torch.arange(len(chunk)), torch.tensor(pos)].float().cpu()
            self._states.update({k: h[i] for i, k in enumerate(chunk)})
        if not keys:
            return torch.zeros(0, self.adapter.hidden_size)
        return torch.stack([self._states[k] for k in keys])

    def activations(self, examples: Sequence[RavelExample], which: str = "base") -> np.ndarray:
        if which == "base":
            return self.entity_states([e.input for e in examples], [e.entity_span for e in examples]).numpy()
        return self.entity_states([e.source_input for e in examples], [e.source_span for e in examples]).numpy()

    # -- generation ----------------------------------------------------------------------
    def complete(self, texts: Sequence[str]) -> list[Completion]:
        """Clean greedy outputs of plain texts (instance building)."""
        ids = [self.adapter.tok_encode(t) for t in texts]
        return greedy(self.adapter, ids, self.max_new_tokens, self.batch_size)

    def intervened(self, fn: InterchangeFn, examples: Sequence[RavelExample]) -> list[Completion]:
        ids, pos = self.encode([e.input for e in examples], [e.entity_span for e in examples])
        src = self.entity_states([e.source_input for e in examples], [e.source_span for e in examples])
        return greedy(self.adapter, ids, self.max_new_tokens, self.batch_size, self.site, pos, fn, src)

    def outcomes(self, fn: InterchangeFn, examples: Sequence[RavelExample]) -> tuple[list[Outcome], list[Completion]]:
        outs = self.intervened(fn, examples)
        return [
            Outcome(e.attribute, e.template, gives_value(o.text, e.inv_label, o.truncated), gives_value(o.text, e.label, o.truncated))
            for e, o in zip(examples, outs)
        ], outs

    # -- training problems ---------------------------------------------------------------
    def problem(self, examples: Sequence[RavelExample], cause: Sequence[bool]) -> MultiReadProblem:
        """Teacher-forced problem: target = inv_label's tokens where ``cause`` else label's."""
        ids, pos = self.encode([e.input for e in examples], [e.entity_span for e in examples])
        targets = [e.inv_label_tokens if c else e.label_tokens for e, c in zip(examples, cause)]
        seqs, reads, tgts = teacher_forced(ids, targets, self.max_new_tokens)
        run = run_for_site(self.engine, TokenBatch.from_ids(seqs, self.engine.pad_id), self.site, self.batch_size)
        src = self.entity_states([e.source_input for e in examples], [e.source_span for e in examples])
        return MultiReadProblem(self.engine, run, self.site, torch.tensor(pos), src.to(self.engine.device), reads, tgts)
