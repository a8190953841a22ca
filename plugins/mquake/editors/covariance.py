"""Key statistics C = E[k k^T] at ("mlp_key", l), from State of the Union text (package ``sotu``).

ROME and MEMIT weight their updates by the uncentred second moment of the MLP keys over
generic text. We compute it from the first ``n_tokens`` tokens of SOTU paragraphs (addresses
before 2020, a fixed seeded shuffle, each paragraph cut at ``max_len`` tokens), once per model
fingerprint, layer and token count: kept in memory and, given a cache folder, on disk.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import torch

log = logging.getLogger("harness.mquake")
_MEMORY: dict[tuple[str, int, int, int], torch.Tensor] = {}


def sotu_texts(n_tokens: int, adapter: Any, max_len: int = 128) -> list[list[int]]:
    """Token lists of SOTU paragraphs, in order, until ``n_tokens`` tokens are collected."""
    from harness_plugins.llm_usage.sotu_corpus import sotu_paragraphs

    out, total = [], 0
    for _, para in sotu_paragraphs():
        ids = adapter.tok_encode(para)[:max_len]
        if len(ids) < 8:
            continue
        ids = ids[: n_tokens - total] if total + len(ids) > n_tokens else ids
        out.append(ids)
        total += len(ids)
        if total >= n_tokens:
            break
    return out


def _cache_file(cache_dir: Path, layer: int, n_tokens: int, max_len: int) -> Path:
    return Path(cache_dir) / "mquake_cov" / f"mlp_key_L{layer}_{n_tokens}tok_{max_len}.pt"


def second_moments(adapter: Any, layers: Sequence[int], n_tokens: int = 20000, max_len: int = 128,
                   cache_dir: Path | None = None) -> dict[int, torch.Tensor]:
    """``{layer: E[k k^T]}`` (d_ff, d_ff), float32 on the model's device; computed in one pass
    over the text for every layer not cached yet."""
    fp = adapter.fingerprint()
    found: dict[int, torch.Tensor] = {}
    for layer in layers:
        key = (fp, int(layer), int(n_tokens), int(max_len))
        if key not in _MEMORY and cache_dir is not None and _cache_file(cache_dir, layer, n_tokens, max_len).is_file():
            blob = torch.load(_cache_file(cache_dir, layer, n_tokens, max_len), map_location="cpu")
            if blob.get("fingerprint") == fp:
                _MEMORY[key] = blob["moment"]
        if key in _MEMORY:
            found[int(layer)] = _MEMORY[key]
    missing = [int(l) for l in layers if int(l) not in found]
    if missing:
        computed = _compute(adapter, missing, sotu_texts(n_tokens, adapter, max_len))
        for layer, moment in computed.items():
            _MEMORY[(fp, layer, int(n_tokens), int(max_len))] = moment
            found[layer] = moment
            if cache_dir is not None:
                path = _cache_file(cache_dir, layer, n_tokens, max_len)
                path.parent.mkdir(parents=True, exist_ok=True)
                torch.save({"fingerprint": fp, "moment": moment, "n_tokens": n_tokens}, path)
    return {int(l): found[int(l)].to(adapter.device) for l in layers}


def _compute(adapter: Any, layers: list[int], seqs: list[list[int]]) -> dict[int, torch.Tensor]:
    from harness.interventions.tokens import TokenBatch
    from harness.models.batching import run_batched

    sites = [("mlp_key", l) for l in layers]
    sums: dict[int, torch.Tensor] = {}
    count = [0]

    def run(batch: Sequence[list[int]]) -> list[None]:
        tokens = TokenBatch.from_ids(batch, adapter.pad_token_id)
        mask = tokens.attention_mask.to(adapter.device)
        out = adapter.forward_ids(tokens.input_ids.to(adapter.device), mask, tokens.lengths, sites=sites, last_logits_only=True)
        keep = mask.bool()
        for layer, site in zip(layers, sites):
            k = out.states[site][keep].double()
            sums[layer] = sums.get(layer, 0) + k.T @ k
        count[0] += int(keep.sum())
        return [None] * len(batch)

    log.info("MQuAKE editors: key statistics for layers %s from %d SOTU tokens", layers, sum(map(len, seqs)))
    run_batched(seqs, adapter.sizer, run, default=16)
    return {layer: (s / count[0]).float().cpu() for layer, s in sums.items()}
