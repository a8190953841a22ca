"""Greedy generation that computes the KV cache of a shared prompt prefix once.

Every MeLLo request starts with the same ~800-token demonstrations, and every in-context
request of a group with the same demonstrations and edit sentences; on CPU, re-encoding them
for each request and iteration dominates the cost. This wrapper encodes the longest token
prefix shared by a call's requests once (kept across calls), then generates each batch from
a copy of that cache. The suffixes are left-padded *after* the prefix (padding in the middle,
masked, with position ids counted over real tokens), which is exact for full-attention
models; models with sliding-window layers (Gemma 3) are generated one request at a time,
because a window counted over cache slots would include the padding.

It drives a transformers model through the same attributes the harness's ``HFAdapter`` uses
(``model``, ``tokenizer``, ``tok_encode``, ``max_length``) and falls back to
``adapter.generate`` for anything else (sampling, decoding rules, short or no shared prefix,
over-long prompts, other adapters). Results equal ``adapter.generate``'s (tested).

This is a workaround inside the plugin: prefix reuse belongs in the core adapter.
"""

from __future__ import annotations

import copy
import inspect
from collections import OrderedDict
from typing import Any, Sequence

from harness.models.base import GenerationRequest, GenerationResult


def _common_prefix_length(seqs: Sequence[Sequence[int]]) -> int:
    first = seqs[0]
    n = min(len(s) for s in seqs)
    for s in seqs[1:]:
        i = 0
        while i < n and s[i] == first[i]:
            i += 1
        n = i
    return n


class SharedPrefixGenerator:
    """``generate`` like the adapter's, reusing the KV cache of the requests' shared prefix."""

    def __init__(self, adapter: Any, min_prefix_tokens: int = 32, batch_size: int = 8, max_prefixes: int = 2):
        self.adapter = adapter
        self.min_prefix_tokens = min_prefix_tokens
        self.batch_size = batch_size
        self.max_prefixes = max_prefixes
        self._prefixes: OrderedDict[tuple[int, ...], Any] = OrderedDict()
        cfg = adapter.model.config
        text_cfg = getattr(cfg, "text_config", None) or cfg
        self.sliding = bool(getattr(text_cfg, "sliding_window", None)) or any("sliding" in str(t) for t in (getattr(text_cfg, "layer_types", None) or ()))
        self._keep_logits = "logits_to_keep" in inspect.signature(adapter.model.forward).parameters
        self.stats = {"prefix_tokens_reused": 0, "fallback_requests": 0}

    @staticmethod
    def supports(adapter: Any) -> bool:
        return all(hasattr(adapter, a) for a in ("model", "tokenizer", "tok_encode", "max_length")) and getattr(adapter, "decoding", None) is None

    @classmethod
    def wrap(cls, adapter: Any, **kwargs: Any) -> Any:
        """A generator for ``adapter`` (the adapter itself when prefix reuse does not apply)."""
        return cls(adapter, **kwargs) if cls.supports(adapter) else adapter

    # -- public API -----------------------------------------------------------------------------
    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        results: list[GenerationResult | None] = [None] * len(requests)
        groups: dict[tuple, list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault(r.settings_key(), []).append(i)
        for idx in groups.values():
            for i, res in zip(idx, self._generate_group([requests[i] for i in idx])):
                results[i] = res
        return results  # type: ignore[return-value]

    def _generate_group(self, reqs: list[GenerationRequest]) -> list[GenerationResult]:
        req0 = reqs[0]
        if req0.do_sample or req0.decoding:
            return self._fallback(reqs)
        ids = [self.adapter.tok_encode(r.prompt) for r in reqs]
        if any(len(x) + req0.max_new_tokens > self.adapter.max_length for x in ids):
            return self._fallback(reqs)  # the adapter's own truncation rules apply
        shared = min(_common_prefix_length(ids), min(len(x) for x in ids) - 1)  # >= 1 suffix token each
        if shared < self.min_prefix_tokens:
            return self._fallback(reqs)
        prefix = self._prefix(tuple(ids[0][:shared]))
        order = sorted(range(len(reqs)), key=lambda i: (-len(ids[i]), i))
        size = 1 if self.sliding else self.batch_size
        out: list[GenerationResult | None] = [None] * len(reqs)
        for start in range(0, len(order), size):
            chunk = order[start : start + size]
            for i, res in zip(chunk, self._generate_batch(prefix, shared, [ids[i][shared:] for i in chunk], [reqs[i] for i in chunk])):
                out[i] = res
            self.stats["prefix_tokens_reused"] += shared * len(chunk)
        return out  # type: ignore[return-value]

    def _fallback(self, reqs: list[GenerationRequest]) -> list[GenerationResult]:
        self.stats["fallback_requests"] += len(reqs)
        return self.adapter.generate(reqs)

    # -- internals ------------------------------------------------------------------------------
    def _prefix(self, tokens: tuple[int, ...]) -> Any:
        """The KV cache of ``tokens`` (LRU-kept across calls: MeLLo reuses it every iteration)."""
        import torch

        if tokens in self._prefixes:
            self._prefixes.move_to_end(tokens)
            return self._prefixes[tokens]
        dev = self.adapter.device
        ids = torch.tensor([tokens], dtype=torch.long, device=dev)
        kwargs = {"logits_to_keep": 1} if self._keep_logits else {}
        with torch.no_grad():
            out = self.adapter.model(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=True, **kwargs)
        self._prefixes[tokens] = out.past_key_values
        while len(self._prefixes) > self.max_prefixes:
            self._prefixes.popitem(last=False)
        return out.past_key_values

    def _eos_ids(self) -> set[int]:
        tok = self.adapter.tokenizer
        cfg = getattr(self.adapter.model, "generation_config", None)
        extra = getattr(cfg, "eos_token_id", None) if cfg is not None else None
        extra = list(extra) if isinstance(extra, (list, tuple)) else [extra]
        return {t for t in (tok.eos_token_id, *extra) if t is not None}

    def _generate_batch(self, prefix: Any, shared: int, suffixes: list[list[int]], reqs: list[GenerationRequest]) -> list[GenerationResult]:
        import torch

        from harness.models.generation import cut_at_stop

        tok, dev, model = self.adapter.tokenizer, self.adapter.device, self.adapter.model
        n, width = len(reqs), max(len(s) for s in suffixes)
        cache = copy.deepcopy(prefix)
        if n > 1:
            cache.batch_repeat_interleave(n)
        ids = torch.full((n, width), tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros((n, shared + width), dtype=torch.long)
        mask[:, :shared] = 1
        for i, s in enumerate(suffixes):  # padding sits between the shared prefix and each suffix
            ids[i, width - len(s):] = torch.tensor(s)
            mask[i, shared + width - len(s):] = 1
        step_ids, step_mask = ids.to(dev), mask.to(dev)
        eos = self._eos_ids()
        kwargs = {"logits_to_keep": 1} if self._keep_logits else {}
        out_tokens: list[list[int]] = [[] for _ in reqs]
        finish = [""] * n
        with torch.no_grad():
            for _ in range(reqs[0].max_new_tokens):
                positions = (step_mask.cumsum(-1) - 1).clamp(min=0)[:, -step_ids.shape[1]:]
                out = model(input_ids=step_ids, attention_mask=step_mask, position_ids=positions, past_key_values=cache, use_cache=True, **kwargs)
                cache = out.past_key_values
                nxt = out.logits[:, -1, :].argmax(-1)
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
