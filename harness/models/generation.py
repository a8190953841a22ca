"""Batched generation with a KV cache: left-padded prompts, per-sequence stop strings, and
an optional :class:`~harness.models.base.NextTokenRule` for custom decoding."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

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
    tok, dev = adapter.tokenizer, adapter.device
    req0 = reqs[0]  # all requests of a batch share their settings
    decoding = req0.decoding or adapter.decoding
    rule: NextTokenRule | None = make_rule(adapter, decoding) if decoding else None
    prompts = [adapter.tok_encode(r.prompt) for r in reqs]
    budget = adapter.max_length - req0.max_new_tokens
    prompts = [p[-budget:] if budget > 0 else p for p in prompts]
    width = max(len(p) for p in prompts)
    ids = torch.full((len(reqs), width), tok.pad_token_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, p in enumerate(prompts):  # left padding
        ids[i, width - len(p):] = torch.tensor(p)
        mask[i, width - len(p):] = 1
    ids, mask = ids.to(dev), mask.to(dev)
    sites = tuple(getattr(rule, "sites", ())) if rule is not None else ()
    if rule is not None:
        rule.start(adapter, adapter.forward([r.prompt for r in reqs], sites=sites) if rule.needs_states else None)  # type: ignore[arg-type]
    generators = [torch.Generator().manual_seed(r.seed) if r.seed is not None else None for r in reqs]

    eos = {t for t in (tok.eos_token_id, *(_extra_eos(adapter))) if t is not None}
    out_tokens: list[list[int]] = [[] for _ in reqs]
    finish = [""] * len(reqs)
    cache = None
    step_ids, step_mask = ids, mask
    with torch.no_grad():
        for step in range(req0.max_new_tokens):
            positions = (step_mask.cumsum(-1) - 1).clamp(min=0)[:, -step_ids.shape[1]:]
            with residual_hooks(adapter.blocks, sites if rule is not None and rule.needs_states else ()) as states:
                out = adapter.model(input_ids=step_ids, attention_mask=step_mask, position_ids=positions,
                                    past_key_values=cache, use_cache=True)
            cache = out.past_key_values
            logits = out.logits[:, -1, :]
            scores = rule.scores(logits, {s: h[:, -1:, :] for s, h in states.items()}, step) if rule is not None else logits
            nxt = _pick(scores, req0, generators)
            for i, t in enumerate(nxt.tolist()):
                if finish[i]:
                    continue
                if t in eos:
                    finish[i] = "eos"
                    continue
                out_tokens[i].append(t)
                if reqs[i].stop and cut_at_stop(tok.decode(out_tokens[i]), reqs[i].stop)[1]:
                    finish[i] = "stop"
            if all(finish):
                break
            step_ids = nxt[:, None]
            step_mask = torch.cat([step_mask, torch.ones_like(step_ids)], dim=1)
    results = []
    for i, r in enumerate(reqs):
        text, stopped = cut_at_stop(tok.decode(out_tokens[i], skip_special_tokens=True), r.stop)
        results.append(GenerationResult(text=text, finish_reason="stop" if stopped else (finish[i] or "length"), n_tokens=len(out_tokens[i])))
    return results


def _extra_eos(adapter: HFAdapter) -> list[int]:
    cfg = getattr(adapter.model, "generation_config", None)
    ids = getattr(cfg, "eos_token_id", None) if cfg is not None else None
    return list(ids) if isinstance(ids, (list, tuple)) else ([ids] if ids is not None else [])


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
