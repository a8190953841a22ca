"""Batched generation for the transformers adapter: prefill layouts feeding the core decode loop
(:func:`harness.whitebox.decode.decode`), and an optional
:class:`~harness.models.base.NextTokenRule` for custom decoding."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import torch
from tqdm.auto import tqdm

from harness.models.base import GenerationRequest, GenerationResult
from harness.models.batching import run_batched
from harness.models.decoding import make_rule
from harness.models.prefixes import MIN_SHARED_PREFIX, shared_prefix_length  # noqa: F401 - re-exported
from harness.models.prefixes import prefix_rows, reuses_prefixes, store_shared_prefix, window_reached
from harness.models.tokenization import left_padded
from harness.whitebox.decode import Prefilled, RetireFn, StopTracker, accepts_logits_to_keep, decode, greedy, hf_block_step, hf_step, sampler
from harness.whitebox.lookahead import PromptLookup
from harness.whitebox.hooks import site_hooks
from harness.whitebox.prefix_store import row_layers

if TYPE_CHECKING:  # pragma: no cover
    from harness.models.base import NextTokenRule
    from harness.models.hf import HFAdapter


def prefill(adapter: HFAdapter, prompts: list[list[int]], max_new_tokens: int, sites: Sequence = ()) -> Prefilled:
    """The first forward: each prompt's longest prefix already in the adapter's
    :class:`PrefixStore` (a shared few-shot primer, or an earlier call's prompt and generation
    that this prompt extends) is reused, the rest runs left-padded after it. Padding then sits
    between prefix and suffix; the mask hides it and position ids count only real tokens, so each
    row sees exactly its own prompt."""
    tok, dev = adapter.tokenizer, adapter.device
    cache, prefix_mask = None, torch.ones((len(prompts), 0), dtype=torch.long, device=dev)
    if reuses_prefixes(adapter, prompts, max_new_tokens):
        store_shared_prefix(adapter, prompts)
        cache, prefix_mask, reused = prefix_rows(adapter, prompts)
        prompts = [p[n:] for p, n in zip(prompts, reused)]
    ids, mask = left_padded(prompts, tok.pad_token_id)  # of the suffixes, when a prefix is reused
    ids, mask = ids.to(dev), torch.cat([prefix_mask, mask.to(dev)], dim=1)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, -ids.shape[1]:]
    keep = {"logits_to_keep": 1} if accepts_logits_to_keep(adapter.model) else {}
    with torch.no_grad(), site_hooks(adapter.layout, read=sites) as states:
        out = adapter.model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache, use_cache=True, **keep)
    return Prefilled(out.past_key_values, mask, out.logits[:, -1, :], {s: h[:, -1:, :] for s, h in states.items()})


def storer(adapter: HFAdapter, prompts: Sequence[Sequence[int]], tracker: StopTracker) -> RetireFn:
    """A decode's ``retire``: puts each row's cache (its prompt, then the tokens it generated
    and fed back) in the prefix store, for a later call whose prompt extends it."""

    def retire(requests: list[int], cache: Any, batch_rows: list[int], mask: torch.Tensor) -> None:
        for r, j in zip(requests, batch_rows):
            columns = mask[j].nonzero()[:, 0]
            n = len(prompts[r]) + min(len(tracker.tokens[r]), len(columns) - len(prompts[r]))
            adapter.prefix_store.put(list(prompts[r]) + tracker.tokens[r][: n - len(prompts[r])], row_layers(cache, j, columns[:n]))

    return retire


def prompt_lookup(adapter: HFAdapter, prompts: Sequence[Sequence[int]], max_new_tokens: int) -> PromptLookup | None:
    """Drafting for greedy decoding (the loop uses it only then), unless ``prompt_lookup=0`` or
    a sliding window could reach a rejected draft's masked column (windows count columns)."""
    n = getattr(adapter, "prompt_lookup", 0)
    columns = max(len(p) for p in prompts) + max_new_tokens * (n + 1)
    return PromptLookup(prompts, max_tokens=n) if n and not window_reached(adapter, columns) else None


def _generate_batch(adapter: HFAdapter, reqs: Sequence[GenerationRequest], prompts: list[list[int]]) -> list[GenerationResult]:
    req0 = reqs[0]  # all requests of a batch share their settings
    decoding = req0.decoding or adapter.decoding
    rule: NextTokenRule | None = make_rule(adapter, decoding, adapter.decoders) if decoding else None
    sites = tuple(getattr(rule, "sites", ())) if rule is not None and rule.needs_states else ()
    if rule is not None:
        rule.start(adapter, adapter.forward([r.prompt for r in reqs], sites=sites) if rule.needs_states else None)
    first = prefill(adapter, prompts, req0.max_new_tokens, sites)
    if req0.do_sample:
        pick = sampler(req0.temperature, req0.top_p, [torch.Generator().manual_seed(r.seed) if r.seed is not None else None for r in reqs])
    else:
        pick = greedy
    tracker = StopTracker.for_requests(adapter.tokenizer, reqs, adapter.eos_ids())
    retire = storer(adapter, prompts, tracker) if reuses_prefixes(adapter, prompts, req0.max_new_tokens) else None
    lookup = prompt_lookup(adapter, prompts, req0.max_new_tokens)
    decode(hf_step(adapter.layout), first, tracker, req0.max_new_tokens, pick, rule.scores if rule is not None else None, sites,
           retire=retire, lookup=lookup, block_step=hf_block_step(adapter.layout))
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
        budget = adapter.max_length - requests[idx[0]].max_new_tokens
        tokens = {i: (lambda p: p[-budget:] if budget > 0 else p)(adapter.tok_encode(requests[i].prompt)) for i in idx}
        if reuses_prefixes(adapter, list(tokens.values()), requests[idx[0]].max_new_tokens):
            store_shared_prefix(adapter, list(tokens.values()))  # the call's primer, once for every batch
        batch_fn = lambda b: _generate_batch(adapter, [requests[i] for i in b], [tokens[i] for i in b])  # noqa: E731
        for i, res in zip(idx, run_batched(idx, adapter.sizer, batch_fn, on_batch=lambda b: bar.update(len(b)))):
            results[i] = res
    bar.close()
    return [results[i] for i in range(len(requests))]  # every request is in one group
