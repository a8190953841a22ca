"""Greedy generation that computes the KV cache of a shared prompt prefix once.

Every MeLLo request starts with the same ~800-token demonstrations, and every in-context
request of a group with the same demonstrations and edit sentences; on CPU, re-encoding them
for each request and iteration dominates the cost. This wrapper encodes the longest token
prefix shared by a call's requests once (kept across calls), then generates each batch from
a copy of that cache: each request's suffix is run on its own copy (no padding), and the
one-row caches are then left-padded and stacked so that decoding is batched, exactly the
layout ``HFAdapter.generate`` uses. Sliding-window layers (Gemma 3) keep only the last
window of states per row, which stack as they are when every row is longer than the window
(otherwise that batch decodes one request at a time).

It drives a transformers model through the same attributes the harness's ``HFAdapter`` uses
(``model``, ``tokenizer``, ``tok_encode``, ``max_length``) and falls back to
``adapter.generate`` for anything else (sampling, decoding rules, short or no shared prefix,
over-long prompts, other adapters). Results equal ``adapter.generate``'s (tested).

EOS and stop-string bookkeeping is the core loop's own (``StopTracker``, ``eos_ids``). The core
``generate`` now also runs a batch's shared prefix once, per call and only where no sliding
window can reach its padding; this wrapper additionally keeps prefixes across calls (MeLLo
iterations) and batches Gemma 3 rows past the window, which is why it stays in the plugin.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from typing import Any, Sequence

from harness.models.base import GenerationRequest, GenerationResult
from harness.models.generation import StopTracker, accepts_logits_to_keep, eos_ids


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
        self._keep_logits = accepts_logits_to_keep(adapter.model)
        self.stats = {"prefix_tokens_reused": 0, "fallback_requests": 0, "stacked_batches": 0, "unstackable_batches": 0}

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
        size = self.batch_size
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

    def _extend(self, prefix: Any, shared: int, suffix: list[int]) -> tuple[Any, Any]:
        """One request's cache and next-token logits: its suffix run on a copy of the prefix cache."""
        import torch

        dev = self.adapter.device
        cache = copy.deepcopy(prefix)
        ids = torch.tensor([suffix], dtype=torch.long, device=dev)
        positions = torch.arange(shared, shared + len(suffix), device=dev)[None]
        mask = torch.ones((1, shared + len(suffix)), dtype=torch.long, device=dev)
        kwargs = {"logits_to_keep": 1} if self._keep_logits else {}
        with torch.no_grad():
            out = self.adapter.model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache, use_cache=True, **kwargs)
        return out.past_key_values, out.logits[:, -1, :]

    @staticmethod
    def _stack(caches: list[Any], lengths: list[int]) -> Any | None:
        """Left-pad and stack one-row caches into a batch cache (``None`` if their layout forbids it).

        Full-attention layers are left-padded with zeros (masked). Sliding-window layers keep
        the last ``window - 1`` states of each row; they stack as they are when every row is at
        least that long, and their token count is set to the padded length so that the mask's
        window lines up with the left-padded layout.
        """
        import torch

        width = max(lengths)
        batch = copy.copy(caches[0])
        batch.layers = []
        for layer_idx, layer in enumerate(caches[0].layers):
            rows = [c.layers[layer_idx] for c in caches]
            new = copy.copy(layer)
            if getattr(layer, "is_sliding", False):
                if len({r.keys.shape[-2] for r in rows}) != 1 or any(n < layer.sliding_window - 1 for n in lengths):
                    return None
                new.keys = torch.cat([r.keys for r in rows])
                new.values = torch.cat([r.values for r in rows])
                new.cumulative_length = width
            elif type(layer).__name__ == "DynamicLayer":
                pad = lambda t, n: torch.nn.functional.pad(t, (0, 0, width - n, 0))  # noqa: E731 - left-pad the sequence axis
                new.keys = torch.cat([pad(r.keys, n) for r, n in zip(rows, lengths)])
                new.values = torch.cat([pad(r.values, n) for r, n in zip(rows, lengths)])
            else:
                return None
            batch.layers.append(new)
        return batch

    def _generate_batch(self, prefix: Any, shared: int, suffixes: list[list[int]], reqs: list[GenerationRequest]) -> list[GenerationResult]:
        import torch

        dev, model = self.adapter.device, self.adapter.model
        n = len(reqs)
        extended = [self._extend(prefix, shared, s) for s in suffixes]
        lengths = [shared + len(s) for s in suffixes]
        cache = extended[0][0] if n == 1 else self._stack([c for c, _ in extended], lengths)
        self.stats["stacked_batches" if cache is not None else "unstackable_batches"] += n > 1
        if cache is None:  # cannot batch this layout: decode one request at a time
            return [r for i in range(n) for r in self._generate_batch(prefix, shared, [suffixes[i]], [reqs[i]])]
        width = max(lengths)
        step_mask = torch.zeros((n, width), dtype=torch.long, device=dev)
        for i, length in enumerate(lengths):
            step_mask[i, width - length:] = 1
        logits = torch.cat([lg for _, lg in extended])
        kwargs = {"logits_to_keep": 1} if self._keep_logits else {}
        tracker = StopTracker(self.adapter.tokenizer, reqs, eos_ids(self.adapter))  # the adapter's own EOS/stop bookkeeping
        with torch.no_grad():
            for step in range(reqs[0].max_new_tokens):
                if step > 0:
                    positions = step_mask.sum(-1, keepdim=True) - 1
                    out = model(input_ids=nxt[:, None], attention_mask=step_mask, position_ids=positions, past_key_values=cache, use_cache=True, **kwargs)
                    cache, logits = out.past_key_values, out.logits[:, -1, :]
                nxt = logits.argmax(-1)
                if tracker.add(nxt.tolist()):
                    break
                step_mask = torch.cat([step_mask, torch.ones((n, 1), dtype=step_mask.dtype, device=dev)], dim=1)
        return tracker.results()
