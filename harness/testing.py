"""Helpers for plugin tests: tiny random-init models with a real tokenizer, built in milliseconds."""

from __future__ import annotations

import functools
from typing import Any


@functools.lru_cache(maxsize=1)
def tokenizer() -> Any:
    """The real SmolLM2 tokenizer (from the embedded model's cache; converted once)."""
    from transformers import AutoTokenizer

    from harness.models.embedded import converted_path

    return AutoTokenizer.from_pretrained(str(converted_path("smollm2-135m")))


def tiny_config(arch: str = "llama", vocab_size: int = 49152, **overrides: Any) -> Any:
    from transformers import GPT2Config, GPTNeoXConfig, LlamaConfig

    if arch == "llama":
        cfg = LlamaConfig(vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=3,
                          num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, tie_word_embeddings=True)
    elif arch == "gpt2":
        cfg = GPT2Config(vocab_size=vocab_size, n_embd=64, n_layer=3, n_head=4, n_positions=512, bos_token_id=2, eos_token_id=2)
    elif arch == "neox":
        cfg = GPTNeoXConfig(vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=3,
                            num_attention_heads=4, max_position_embeddings=512, rotary_pct=0.25, bos_token_id=1, eos_token_id=2)
    else:
        raise ValueError(f"unknown tiny architecture {arch!r} (llama, gpt2, neox)")
    for k, v in overrides.items():
        setattr(cfg, k, v)
    return cfg


def tiny_model(arch: str = "llama", seed: int = 0, **overrides: Any) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(tiny_config(arch, **overrides), attn_implementation="eager")
    return model.eval()


def tiny_adapter(arch: str = "llama", seed: int = 0, **adapter_kwargs: Any) -> Any:
    """An HFAdapter around a tiny random model of ``arch`` (llama, gpt2, neox)."""
    from harness.models.hf import HFAdapter

    adapter_kwargs.setdefault("name", f"tiny-{arch}")
    adapter_kwargs.setdefault("batch_size", 4)
    return HFAdapter.from_model(tiny_model(arch, seed), tokenizer(), **adapter_kwargs)
