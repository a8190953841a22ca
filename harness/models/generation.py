"""Batched generation for the transformers adapter: prefill layouts feeding the core decode loop
(:func:`harness.whitebox.decode.decode`), and an optional
:class:`~harness.models.base.NextTokenRule` for custom decoding."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import torch
from tqdm.auto import tqdm

from harness.models.base import GenerationRequest, GenerationResult
from harness.models.batching import run_batched
from harness.models.decoding import make_rule
from harness.models.tokenization import left_padded
from harness.whitebox.decode import Prefilled, StopTracker, accepts_logits_to_keep, decode, greedy, hf_step, sampler
from harness.whitebox.hooks import site_hooks

if TYPE_CHECKING:  # pragma: no cover
    from harness.models.base import NextTokenRule
    from harness.models.hf import HFAdapter

MIN_SHARED_PREFIX = 8  # below this, a separate prefix forward costs more than it saves


def shared_prefix_length(prompts: Sequence[Sequence[int]]) -> int:
    """Length of the token prefix all prompts share, leaving every prompt at least one token."""
    if len(prompts) < 2:
        return 0
    first, n = prompts[0], min(len(p) for p in prompts) - 1
    for i in range(n):
        if any(p[i] != first[i] for p in prompts):
            return i
    return max(n, 0)


def _prefix_cache(adapter: HFAdapter, tokens: tuple[int, ...]):
    ids = torch.tensor([tokens], device=adapter.device)
    keep = {"logits_to_keep": 1} if accepts_logits_to_keep(adapter.model) else {}
    with torch.no_grad():
        return adapter.model(input_ids=ids, use_cache=True, **keep).past_key_values


def prefill(adapter: HFAdapter, prompts: list[list[int]], max_new_tokens: int, sites: Sequence = ()) -> Prefilled:
    """The first forward: left-padded prompts or, when the batch shares a token prefix (few-shot
    primers), that prefix's cache (from the adapter's :class:`PrefixStore`, kept across calls)
    repeated for every row, then the left-padded suffixes. Padding then sits between prefix and
    suffix; the mask hides it and position ids count only real tokens, so each row sees exactly
    its own prompt. Prefix sharing is skipped where a sliding window could reach the padding."""
    tok, dev = adapter.tokenizer, adapter.device
    n_shared = shared_prefix_length(prompts) if adapter.share_prefix else 0
    window = getattr(adapter.model.config, "sliding_window", None)
    if window and max(len(p) for p in prompts) + max_new_tokens > window:
        n_shared = 0
    cache = None
    prefix_mask = torch.ones((len(prompts), 0), dtype=torch.long, device=dev)
    if n_shared >= MIN_SHARED_PREFIX:
        cache = adapter.prefix_store.get_or_compute(prompts[0][:n_shared], lambda key: _prefix_cache(adapter, key))
        cache.batch_repeat_interleave(len(prompts))
        prompts = [p[n_shared:] for p in prompts]
        prefix_mask = torch.ones((len(prompts), n_shared), dtype=torch.long, device=dev)
    ids, mask = left_padded(prompts, tok.pad_token_id)  # of the suffixes, when a prefix is shared
    ids, mask = ids.to(dev), torch.cat([prefix_mask, mask.to(dev)], dim=1)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, -ids.shape[1]:]
    keep = {"logits_to_keep": 1} if accepts_logits_to_keep(adapter.model) else {}
    with torch.no_grad(), site_hooks(adapter.layout, read=sites) as states:
        out = adapter.model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache, use_cache=True, **keep)
    return Prefilled(out.past_key_values, mask, out.logits[:, -1, :], {s: h[:, -1:, :] for s, h in states.items()})


def _generate_batch(adapter: HFAdapter, reqs: Sequence[GenerationRequest]) -> list[GenerationResult]:
    req0 = reqs[0]  # all requests of a batch share their settings
    decoding = req0.decoding or adapter.decoding
    rule: NextTokenRule | None = make_rule(adapter, decoding, adapter.decoders) if decoding else None
    prompts = [adapter.tok_encode(r.prompt) for r in reqs]
    budget = adapter.max_length - req0.max_new_tokens
    prompts = [p[-budget:] if budget > 0 else p for p in prompts]
    sites = tuple(getattr(rule, "sites", ())) if rule is not None and rule.needs_states else ()
    if rule is not None:
        rule.start(adapter, adapter.forward([r.prompt for r in reqs], sites=sites) if rule.needs_states else None)
    first = prefill(adapter, prompts, req0.max_new_tokens, sites)
    if req0.do_sample:
        pick = sampler(req0.temperature, req0.top_p, [torch.Generator().manual_seed(r.seed) if r.seed is not None else None for r in reqs])
    else:
        pick = greedy
    tracker = StopTracker.for_requests(adapter.tokenizer, reqs, adapter.eos_ids())
    decode(hf_step(adapter.layout), first, tracker, req0.max_new_tokens, pick, rule.scores if rule is not None else None, sites)
    return tracker.results()


def generate(adapter: HFAdapter, requests: Sequence[GenerationRequest], progress: bool = False) -> list[GenerationResult]:
    """Group by settings, sort by prompt length, generate each batch; results in request order."""
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(requests):
        groups.setdefault(r.settings_key(), []).append(i)
    results: dict[int, GenerationResult] = {}
    bar = tqdm(total=len(requests), desc="generate", disable=not progress, leave=False)
    lengths = {i: len(r.prompt) for i, r in enumerate(requests)}
    for idx in groups.values():
        idx.sort(key=lambda i: (-lengths[i], i))
        batch_fn = lambda b: _generate_batch(adapter, [requests[i] for i in b])  # noqa: E731
        for i, res in zip(idx, run_batched(idx, adapter.sizer, batch_fn, on_batch=lambda b: bar.update(len(b)))):
            results[i] = res
    bar.close()
    return [results[i] for i in range(len(requests))]  # every request is in one group
