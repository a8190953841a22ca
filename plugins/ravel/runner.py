"""Run the model for RAVEL: greedy outputs (clean or intervened), entity states, training problems.

One :class:`RavelRunner` serves one model and one intervention site. Clean and intervened
generation share one path (the engine's ``generate_with_intervention``; clean = the identity
applied at the last prompt token), so instance labels and intervened outputs are produced
the same way; tests check them against a plain full-forward-with-hooks greedy loop.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch

from harness.interventions.run_store import RunStore
from harness.interventions.tokens import TokenBatch
from harness.models.batching import run_batched_by_length
from harness_plugins.ravel.engine_ext import encode_prompts, teacher_forced
from harness_plugins.ravel.instance import Completion, RavelExample

InterchangeFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def to_completion(tok: Any, new_tokens: Sequence[int], eos: set[int], max_new_tokens: int) -> Completion:
    """Cut at the first end-of-sequence token; ``truncated`` when the token budget ran out."""
    toks: list[int] = []
    ended = False
    for t in new_tokens:
        if t in eos:
            ended = True
            break
        toks.append(int(t))
    prefixes = tuple(tok.decode(toks[:k], skip_special_tokens=True) for k in range(1, len(toks) + 1))
    return Completion(prefixes[-1] if prefixes else "", tuple(toks), truncated=not ended and len(toks) >= max_new_tokens, prefix_texts=prefixes)


def keep_base(h_base: torch.Tensor, h_source: torch.Tensor) -> torch.Tensor:
    """The identity intervention: clean generation goes through the same code path."""
    return h_base


class RavelRunner:
    """Model-side work for one intervention site (``site`` as in the adapter convention)."""

    def __init__(self, adapter: Any, site: int, max_new_tokens: int = 10, batch_size: int = 32):
        if not 0 <= site <= adapter.num_layers:
            raise ValueError(f"layer {site} is outside 0..{adapter.num_layers} for {adapter.name}")
        self.adapter, self.site = adapter, site
        self.max_new_tokens, self.batch_size = max_new_tokens, batch_size
        self.engine = adapter.interchange_engine()
        self._encoded: dict[tuple[str, tuple[int, int]], tuple[list[int], int]] = {}
        self._states: dict[tuple[str, tuple[int, int]], torch.Tensor] = {}
        # clean runs of every prompt run so far (instance building, evaluation, training bases),
        # shared by methods and splits: each prompt is run through the model once
        self.store = RunStore(self.engine, [site])
        self._value_ids: dict[tuple[str, str], tuple[int, ...]] = {}

    # -- values as tokens ----------------------------------------------------------------
    def value_ids(self, prompt: str, value: str) -> tuple[int, ...]:
        """The tokens ``value`` takes as a continuation of ``prompt`` (prompt + space + value,
        tokenised as the adapter runs it, minus the prompt's tokens); memoised."""
        key = (prompt, value)
        if key not in self._value_ids:
            sep = "" if not prompt or prompt[-1].isspace() else " "
            head = list(self.adapter.tok_encode(prompt))
            full = list(self.adapter.tok_encode(prompt + sep + value))
            if full[: len(head)] == head:
                ids = full[len(head):]
            else:  # the value's first token merged with the prompt's last: tokenise it alone
                ids = self.adapter.tokenizer(sep + value, add_special_tokens=False)["input_ids"]
            self._value_ids[key] = tuple(int(i) for i in ids)
        return self._value_ids[key]

    def n_tokens(self, prompt: str, value: str) -> int:
        return len(self.value_ids(prompt, value))

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

        def read(chunk: Sequence[tuple]) -> list[torch.Tensor]:
            ids, pos = self.encode([k[0] for k in chunk], [k[1] for k in chunk])
            batch = TokenBatch.from_ids(ids, self.engine.pad_id)
            states = self.engine.site_states(batch, self.site)
            return list(states[torch.arange(len(pos)), batch.resolve(pos).to(states.device)].float().cpu())

        if missing:
            self.encode([k[0] for k in missing], [k[1] for k in missing])
            for k in list(missing):  # a prompt already run clean has its state in the store
                ids, pos = self._encoded[k]
                h = self.store.state(ids, self.site, pos)
                if h is not None:
                    self._states[k] = h.float().cpu()
            missing = [k for k in missing if k not in self._states]
        length = lambda k: len(self._encoded[k][0])  # noqa: E731
        for k, h in zip(missing, run_batched_by_length(missing, self.adapter.sizer, read, length, default=self.batch_size)):
            self._states[k] = h
        if not keys:
            return torch.zeros(0, self.adapter.hidden_size)
        return torch.stack([self._states[k] for k in keys])

    def activations(self, examples: Sequence[RavelExample], which: str = "base") -> np.ndarray:
        if which == "base":
            return self.entity_states([e.input for e in examples], [e.entity_span for e in examples]).numpy()
        return self.entity_states([e.source_input for e in examples], [e.source_span for e in examples]).numpy()

    # -- generation ----------------------------------------------------------------------
    def generate(self, prompts: Sequence[Sequence[int]], positions: Sequence[int] | None = None,
                 fn: InterchangeFn | None = None, sources: torch.Tensor | None = None,
                 max_new_tokens: int | Sequence[int] | None = None) -> list[Completion]:
        """Greedy continuations of token-id prompts, in chunks, through the shared engine's
        KV-cached intervened generation; without ``fn`` the identity is applied at each
        prompt's last token, so clean outputs take exactly the same path.

        ``max_new_tokens``: one budget for all, or one per prompt (a row stops, and leaves the
        batch, once it has what its rule needs: greedy outputs are prefix-consistent, so a
        shorter budget gives the same first tokens). The clean runs of the prompts (site states
        and K/V) come from, and go to, the runner's :class:`RunStore`: every method and split is
        evaluated on the same bases, run once.
        """
        from harness.interventions.generation import generate_with_intervention

        tok = self.adapter.tokenizer
        eos = self.adapter.eos_ids()
        cap = self.max_new_tokens if max_new_tokens is None else max_new_tokens
        budgets = [int(cap)] * len(prompts) if isinstance(cap, int) else [int(n) for n in cap]

        def batch(rows: Sequence[int]) -> list[Completion]:
            chunk = [tuple(prompts[i]) for i in rows]
            run = self.store.run(chunk, chunk_size=len(chunk))
            if fn is None:
                pos, f, src = [-1] * len(chunk), keep_base, torch.zeros(len(chunk), self.adapter.hidden_size)
            else:
                pos, f, src = [positions[i] for i in rows], fn, sources[list(rows)]
            limits = [budgets[i] for i in rows]
            gen = generate_with_intervention(self.engine, run, self.site, pos, src.to(self.engine.device), f,
                                             limits, eos=eos, tokenizer=tok, keep_logits=False)
            return [to_completion(tok, row, eos, n) for row, n in zip(gen.rows, limits)]

        return run_batched_by_length(list(range(len(prompts))), self.adapter.sizer, batch, lambda i: len(prompts[i]),
                                     default=self.batch_size)

    def complete(self, texts: Sequence[str], budgets: Sequence[int] | None = None) -> list[Completion]:
        """Clean greedy outputs of plain texts (instance building), ``budgets`` new tokens each
        (default: the cap). All prompts are run into the store first, together, so those that
        share a template's leading words run them once."""
        prompts = [self.adapter.tok_encode(t) for t in texts]
        self.store.add(prompts, chunk_size=self.batch_size)
        return self.generate(prompts, max_new_tokens=budgets)

    def intervened(self, fn: InterchangeFn, examples: Sequence[RavelExample], max_new_tokens: int | None = None) -> list[Completion]:
        ids, pos = self.encode([e.input for e in examples], [e.entity_span for e in examples])
        src = self.entity_states([e.source_input for e in examples], [e.source_span for e in examples])
        return self.generate(ids, pos, fn, src, max_new_tokens=max_new_tokens)

    def records(self, fn: InterchangeFn, examples: Sequence[RavelExample]) -> list[dict]:
        """Intervene on every example and judge its output under every matching rule
        (:mod:`harness_plugins.ravel.scoring`); one log record per example."""
        from harness_plugins.ravel.scoring import budgets, records

        outs = self.intervened(fn, examples, budgets(examples, self.value_ids, self.max_new_tokens))
        return records(examples, outs, self.value_ids)

    # -- training problems ---------------------------------------------------------------
    def problem(self, examples: Sequence[RavelExample], cause: Sequence[bool]):
        """Teacher-forced training problem (``CachedProblem`` with (B, k) reads and targets):
        the target is inv_label's tokens where ``cause`` else label's."""
        from harness.interventions.problem import CachedProblem

        ids, pos = self.encode([e.input for e in examples], [e.entity_span for e in examples])
        targets = [e.inv_label_tokens if c else e.label_tokens for e, c in zip(examples, cause)]
        width = min(self.max_new_tokens, max((len(t) for t in targets), default=1))  # the longest target, not the cap
        seqs, reads, tgts = teacher_forced(ids, targets, width)
        # each base extends its prompt, which instance building ran: only the target columns run
        run = self.store.run(seqs, chunk_size=self.batch_size, extends=[len(i) for i in ids], keep=False)
        src = self.entity_states([e.source_input for e in examples], [e.source_span for e in examples])
        return CachedProblem(self.engine, run, self.site, torch.tensor(pos), src.to(self.engine.device), tgts, reads)
