"""Tiny random models with the real SmolLM2 tokenizer; a larger init so distributions are not flat."""

import pytest


def make_adapter(arch: str = "llama", **kwargs):
    """An adapter that decodes with this plugin's registered strategies, as the runner's would."""
    from harness.models.hf import HFAdapter
    from harness.testing import tiny_model, tokenizer
    from harness_plugins.activation_decoding import plugin

    model = tiny_model(arch, seed=0, initializer_range=0.3)
    adapter = HFAdapter.from_model(model, tokenizer(), name=f"tiny-{arch}", batch_size=4, **kwargs)
    return adapter.use_decoders({spec.name: spec for spec in plugin.harness_register_decoders()})


@pytest.fixture(scope="session")
def adapters():
    return {arch: make_adapter(arch) for arch in ("llama", "gpt2", "neox")}
