"""The preallocated decode cache: same keys and values as concatenation, written in place."""

from __future__ import annotations

import pytest
import torch
from transformers.cache_utils import DynamicCache

from harness.models.base import GenerationRequest
from harness.testing import tiny_adapter
from harness.whitebox.kv_buffer import BufferedLayer, reserve


def _cache(n: int, seed: int = 0) -> DynamicCache:
    g = torch.Generator().manual_seed(seed)
    cache = DynamicCache()
    for i in range(2):
        cache.update(torch.randn(2, 3, n, 4, generator=g), torch.randn(2, 3, n, 4, generator=g), i)
    return cache


def test_buffered_updates_equal_concatenation_and_stay_in_place():
    plain, buffered = _cache(5), reserve(_cache(5), 3)
    assert all(isinstance(layer, BufferedLayer) for layer in buffered.layers)
    start = buffered.layers[0].keys.data_ptr()
    for step in range(5):  # the last two outgrow the buffer: concatenation takes over
        new_k, new_v = torch.randn(2, 3, 1, 4), torch.randn(2, 3, 1, 4)
        for i in range(2):
            want = plain.update(new_k, new_v, i)
            got = buffered.update(new_k, new_v, i)
            assert torch.equal(want[0], got[0]) and torch.equal(want[1], got[1])
        if step < 3:
            assert buffered.layers[0].keys.data_ptr() == start  # no copy of the cache per step
    assert buffered.get_seq_length() == plain.get_seq_length() == 10


def test_replaced_keys_fall_back_to_concatenation():
    cache = reserve(_cache(4), 8)
    cache.batch_select_indices(torch.tensor([1]))  # replaces keys: the buffer no longer holds them
    new = torch.ones(1, 3, 1, 4)
    keys, _ = cache.update(new, new, 0)
    assert keys.shape == (1, 3, 5, 4) and torch.equal(keys[:, :, -1:], new)
    assert torch.equal(keys[:, :, :4], _cache(4).layers[0].keys[1:])


@pytest.mark.parametrize("arch", ["llama", "gemma3"])
def test_generation_with_the_buffer_equals_transformers_generate(arch):
    adapter = tiny_adapter(arch, batch_size=1)
    prompt = "The quick brown fox jumps over the lazy dog and"
    got = adapter.generate([GenerationRequest(prompt=prompt, max_new_tokens=12)])[0]
    ids = torch.tensor([adapter.tok_encode(prompt)])
    out = adapter.model.generate(ids, max_new_tokens=12, do_sample=False, pad_token_id=adapter.tokenizer.pad_token_id)
    assert got.text == adapter.tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
