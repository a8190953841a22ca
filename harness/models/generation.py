"""Batched generation with a KV cache: left-padded prompts, per-sequence stop strings, and
an optional :class:`~harness.models.base.NextTokenRule` for custom decoding."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Sequence

import torch
from tqdm.auto import tqdm

from harness.models.base import GenerationRequest, GenerationResult
from harness.models.batching import run_batched
from harness.models.decoding import make_rule
from harness.models.hooks import residual_hooks

if TYPE_CHECKING:  # pragma: no cover
    from harness.models.base import NextTokenRule
    from harness.models.hf import HFAdapter


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """``text`` up to the earliest stop string, and whether one was found."""
    cut = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def _pick(scores: torch.Tensor, req: GenerationRequest, generators: list[torch.Generator | None]) -> torch.Tensor:
    if not req.do_sample:
        return scores.argmax(-1)
    probs = torch.softmax(scores.float() / max(req.temperature, 1e-6), dim=-1)
    if req.top_p < 1.0:
        sorted_p, order = probs.sort(-1, descending=True)
        keep = sorted_p.cumsum(-1) - sorted_p < req.top_p
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_p * keep)
        probs = probs / probs.sum(-1, keepdim=True)
    return torch.stack([torch.multinomial(p, 1, generator=g)[0] for p, g in zip(probs.cpu(), generators)]).to(scores.device)


def _generate_batch(adapter: HFAdapter, reqs: Sequence[GenerationRequest]) -> list[GenerationResult]:
    tok = adapter.tokenizer
    req0 = reqs[0]  # all requests of a batch share their settings
    decoding = req0.decoding or adapter.decoding
    rule: NextTokenRule | None = make_rule(adapter, decoding) if decoding else None
    prompts = [adapter.tok_encode(r.prompt) for r in reqs]
    budget = adapter.max_length - req0.max_new_tokens
    prompts = [p[-budget:] if budget > 0 else p for p in prompts]
    ids, mask, cache = _prefill_layout(adapter, prompts, req0.max_new_tokens)
    sites = tuple(getattr(rule, "sites", ())) if rule is not None else ()
    if rule is not None:
        rule.start(adapter, adapter.forward([r.prompt for r in reqs], sites=sites) if rule.needs_states else None)  # type: ignore[arg-type]
    generators = [torch.Generator().manual_seed(r.seed) if r.seed is not None else None for r in reqs]

    tracker = StopTracker(tok, reqs, eos_ids(adapter))
    keep = {"logits_to_keep": 1} if accepts_logits_to_keep(adapter.model) else {}
    step_ids, step_mask = ids, mask
    with torch.no_grad():
        for step in range(req0.max_new_tokens):
            positions = (step_mask.cumsum(-1) - 1).clamp(min=0)[:, -step_ids.shape[1]:]
            with residual_hooks(adapter.blocks, sites if rule is not None and rule.needs_states else ()) as states:
                out = adapter.model(input_ids=step_ids, attention_mask=step_mask, position_ids=positions,
                                    past_key_values=cache, use_cache=True, **keep)
            cache = out.past_key_values
            logits = out.logits[:, -1, :]
            scores = rule.scores(logits, {s: h[:, -1:, :] for s, h in states.items()}, step) if rule is not None else logits
            nxt = _pick(scores, req0, generators)
            if tracker.add(nxt.tolist()):
                break
            step_ids = nxt[:, None]
            step_mask = torch.cat([step_mask, torch.ones_like(step_ids)], dim=1)
    return tracker.results()


class StopTracker:
    """Per-sequence bookkeeping of a batched decoding loop: the tokens each row produced, and
    why it ended (an EOS id, a stop string, or the length budget when neither came)."""

    def __init__(self, tokenizer: Any, requests: Sequence[GenerationRequest], eos: set[int]):
        self.tok, self.requests, self.eos = tokenizer, requests, eos
        self.tokens: list[list[int]] = [[] for _ in requests]
        self.finish = [""] * len(requests)

    def add(self, next_tokens: Sequence[int]) -> bool:
        """Record one step's token per row (finished rows ignore theirs); True when all ended."""
        for i, t in enumerate(next_tokens):
            if self.finish[i]:
                continue
            if t in self.eos:
                self.finish[i] = "eos"
                continue
            self.tokens[i].append(t)
            stops = self.requests[i].stop
            if stops and _stop_in_tail(self.tok, self.tokens[i], stops):
                self.finish[i] = "stop"
        return all(self.finish)

    def results(self) -> list[GenerationResult]:
        out = []
        for r, toks, why in zip(self.requests, self.tokens, self.finish):
            text, stopped = cut_at_stop(self.tok.decode(toks, skip_special_tokens=True), r.stop)
            out.append(GenerationResult(text=text, finish_reason="stop" if stopped else (why or "length"), n_tokens=len(toks)))
        return out


def accepts_logits_to_keep(model: Any) -> bool:
    """Whether the model can return logits for the last position only (saves the LM head on
    every prompt position: ~40% of a prefill for Gemma's 262k vocabulary)."""
    return "logits_to_keep" in inspect.signature(model.forward).parameters


def _stop_in_tail(tok, tokens: list[int], stops: Sequence[str]) -> bool:
    """Whether the newest token completed a stop string. A stop of n characters spans at most
    n tokens, so only that tail is decoded (decoding everything each step is quadratic)."""
    tail = max(len(s) for s in stops) + 2
    return cut_at_stop(tok.decode(tokens[-tail:]), stops)[1]


def shared_prefix_length(prompts: Sequence[Sequence[int]]) -> int:
    """Length of the token prefix all prompts share, leaving every prompt at least one token."""
    if len(prompts) < 2:
        return 0
    first, n = prompts[0], min(len(p) for p in prompts) - 1
    for i in range(n):
        if any(p[i] != first[i] for p in prompts):
            return i
    return max(n, 0)


MIN_SHARED_PREFIX = 8  # below this, a separate prefix forward costs more than it saves


def _prefill_layout(adapter: HFAdapter, prompts: list[list[int]], max_new_tokens: int):
    """Inputs for the first forward: left-padded prompts, or, when the batch shares a token
    prefix (few-shot primers), that prefix run once and its cache repeated for every row, then
    the left-padded suffixes. Padding then sits between prefix and suffix; the attention mask
    hides it and position ids count only real tokens, so each row sees exactly its own prompt.
    Skipped where a sliding attention window could reach the padding."""
    tok, dev = adapter.tokenizer, adapter.device
    n_shared = shared_prefix_length(prompts) if getattr(adapter, "share_prefix", True) else 0
    window = getattr(adapter.model.config, "sliding_window", None)
    if window and max(len(p) for p in prompts) + max_new_tokens > window:
        n_shared = 0
    cache = None
    prefix_mask = torch.ones((len(prompts), 0), dtype=torch.long, device=dev)
    if n_shared >= MIN_SHARED_PREFIX:
        prefix = torch.tensor([prompts[0][:n_shared]], device=dev)
        with torch.no_grad():
            keep = {"logits_to_keep": 1} if accepts_logits_to_keep(adapter.model) else {}
            cache = adapter.model(input_ids=prefix, use_cache=True, **keep).past_key_values
        cache.batch_repeat_interleave(len(prompts))
        prompts = [p[n_shared:] for p in prompts]
        prefix_mask = torch.ones((len(prompts), n_shared), dtype=torch.long, device=dev)
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), tok.pad_token_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, p in enumerate(prompts):  # left padding (of the suffixes, when a prefix is shared)
        ids[i, width - len(p):] = torch.tensor(p)
        mask[i, width - len(p):] = 1
    return ids.to(dev), torch.cat([prefix_mask, mask.to(dev)], dim=1), cache


def eos_ids(adapter: Any) -> set[int]:
    """The tokenizer's EOS plus any the generation config adds (Gemma ends turns with several)."""
    cfg = getattr(adapter.model, "generation_config", None)
    ids = getattr(cfg, "eos_token_id", None) if cfg is not None else None
    extra = list(ids) if isinstance(ids, (list, tuple)) else ([ids] if ids is not None else [])
    return {t for t in (adapter.tokenizer.eos_token_id, *extra) if t is not None}


def generate(adapter: HFAdapter, requests: Sequence[GenerationRequest], progress: bool = False) -> list[GenerationResult]:
    """Group by settings, sort by prompt length, generate each batch; results in request order."""
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(requests):
        groups.setdefault(r.settings_key(), []).append(i)
    results: list[GenerationResult | None] = [None] * len(requests)
    bar = tqdm(total=len(requests), desc="generate", disable=not progress, leave=False)
    lengths = {i: len(r.prompt) for i, r in enumerate(requests)}
    for idx in groups.values():
        idx.sort(key=lambda i: (-lengths[i], i))
        batch_fn = lambda b: _generate_batch(adapter, [requests[i] for i in b])  # noqa: E731
        for i, res in zip(idx, run_batched(idx, adapter.sizer, batch_fn, on_batch=lambda b: bar.update(len(b)))):
            results[i] = res
    bar.close()
    return results  # type: ignore[return-value]
