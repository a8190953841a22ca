"""Shared-prefix generation equals the adapter's own batched generation (the oracle)."""

from __future__ import annotations

import pytest

from harness.models.base import GenerationRequest
from plugins.mquake.prefix_cache import SharedPrefixGenerator

DEMO = "Question: What is the capital of France?\nAnswer: Paris\n" * 5
QUESTIONS = ["Who wrote Hamlet?", "What is the capital city of the country where the Eiffel Tower stands?", "Why?", "Name a river in Egypt"]


def _requests(max_new_tokens: int = 10) -> list[GenerationRequest]:
    return [GenerationRequest(prompt=DEMO + q, max_new_tokens=max_new_tokens, stop=("\n\n", "ing")) for q in QUESTIONS]


@pytest.mark.parametrize("arch", ["llama", "gpt2", "neox"])
def test_equals_adapter_generate(arch):
    from harness.testing import tiny_adapter

    adapter = tiny_adapter(arch)
    gen = SharedPrefixGenerator(adapter, min_prefix_tokens=8, batch_size=3)
    assert gen.generate(_requests()) == adapter.generate(_requests())
    assert gen.stats["prefix_tokens_reused"] > 0 and gen.stats["stacked_batches"] >= 1 and gen.stats["fallback_requests"] == 0


def _tiny_gemma3(sliding_window: int):
    import torch
    from transformers import AutoModelForCausalLM, Gemma3TextConfig

    from harness.models.hf import HFAdapter
    from harness.testing import tokenizer

    cfg = Gemma3TextConfig(vocab_size=49152, hidden_size=64, intermediate_size=128, num_hidden_layers=4, num_attention_heads=4,
                           num_key_value_heads=1, head_dim=16, max_position_embeddings=512, sliding_window=sliding_window)
    torch.manual_seed(0)
    return HFAdapter.from_model(AutoModelForCausalLM.from_config(cfg).eval(), tokenizer(), batch_size=4)


@pytest.mark.parametrize("window, stacked", [(16, True), (512, False)])
def test_sliding_window_models(window, stacked):
    """Gemma 3 layers: rows longer than the window stack for batched decoding; shorter ones decode alone."""
    adapter = _tiny_gemma3(window)
    gen = SharedPrefixGenerator(adapter, min_prefix_tokens=8, batch_size=4)
    assert gen.generate(_requests()) == adapter.generate(_requests())
    assert (gen.stats["stacked_batches"] > 0) == stacked and (gen.stats["unstackable_batches"] > 0) == (not stacked)


def test_falls_back_without_a_shared_prefix():
    from harness.testing import tiny_adapter

    adapter = tiny_adapter("llama")
    reqs = [GenerationRequest(prompt=q, max_new_tokens=5) for q in QUESTIONS]
    gen = SharedPrefixGenerator(adapter, min_prefix_tokens=8)
    assert gen.generate(reqs) == adapter.generate(reqs)
    assert gen.stats["fallback_requests"] == len(reqs)
    sampled = [GenerationRequest(prompt=DEMO + q, max_new_tokens=5, do_sample=True, seed=1) for q in QUESTIONS]
    assert gen.generate(sampled) == adapter.generate(sampled)
