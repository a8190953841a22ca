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
    from transformers import GPT2Config, GPTNeoXConfig, LlamaConfig, PretrainedConfig

    cfg: PretrainedConfig
    if arch == "llama":
        cfg = LlamaConfig(vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=3,
                          num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, tie_word_embeddings=True)
    elif arch == "gpt2":
        cfg = GPT2Config(vocab_size=vocab_size, n_embd=64, n_layer=3, n_head=4, n_positions=512, bos_token_id=2, eos_token_id=2)
    elif arch == "neox":
        cfg = GPTNeoXConfig(vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=3,
                            num_attention_heads=4, max_position_embeddings=512, bos_token_id=1, eos_token_id=2)  # NeoX's default partial rotary (0.25)
    elif arch == "gemma3":  # sliding layers, scaled embeddings, soft-capped logits, BOS by default
        from transformers import Gemma3TextConfig

        cfg = Gemma3TextConfig(vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=3,
                               num_attention_heads=4, num_key_value_heads=2, head_dim=16, sliding_window=64,
                               max_position_embeddings=512, final_logit_softcapping=30.0)
    else:
        raise ValueError(f"unknown tiny architecture {arch!r} (llama, gpt2, neox, gemma3)")
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


class _OOMAbove:
    """A model forward that raises CUDA's out-of-memory error for batches above ``limit`` rows."""

    def __init__(self, forward, limit: int):
        self.forward, self.limit = forward, limit

    def __call__(self, *args, **kwargs):
        import torch

        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is not None and ids.shape[0] > self.limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return self.forward(*args, **kwargs)


def hf_subject(arch: str = "llama", device: str = "cpu", dtype: str = "float32", model: Any = None) -> Any:
    """A conformance :class:`~harness.whitebox.conformance.Subject` for the hf adapter on a tiny
    random model of ``arch`` (or on ``model``)."""
    import contextlib

    import torch

    from harness.models.hf import HFAdapter, pick_dtype
    from harness.whitebox.conformance import Subject

    torch_dtype = pick_dtype(dtype, torch.device(device))
    ref = (model if model is not None else tiny_model(arch, seed=0)).to(device=device, dtype=torch_dtype).eval()

    def make(batch_size: int | str = 4) -> Any:
        return HFAdapter.from_model(ref, tokenizer(), name=f"tiny-{arch}", batch_size=batch_size)

    @contextlib.contextmanager
    def inject_oom(adapter: Any, limit: int):  # every adapter of this subject wraps ``ref``
        previous = ref.__dict__.get("forward")  # a wrapper already there (nnsight's) stays in place
        ref.forward = _OOMAbove(ref.forward, limit)
        try:
            yield
        finally:
            if previous is not None:
                ref.forward = previous
            else:
                del ref.forward

    atol = 1e-4 if torch_dtype == torch.float32 else 5e-2
    return Subject(name=f"hf/{arch}/{dtype}/{device}", make=make, reference=ref, inject_oom=inject_oom, atol=atol)


def nnsight_subject(arch: str = "llama", device: str = "cpu", dtype: str = "float32") -> Any:
    """The same conformance subject on the nnsight adapter (same tiny weights as :func:`hf_subject`)."""
    from harness.models.nnsight_adapter import NNsightAdapter

    subject = hf_subject(arch, device, dtype)
    ref = subject.reference

    def make(batch_size: int | str = 4) -> Any:
        return NNsightAdapter.from_model(ref, tokenizer(), name=f"tiny-{arch}", batch_size=batch_size)

    subject.name = subject.name.replace("hf/", "nnsight/")
    subject.make = make
    return subject
