"""Tiny random models with the real SmolLM2 tokenizer; a larger init so distributions are not flat."""

import pytest


def make_adapter(arch: str = "llama", **kwargs):
    from harness.models.hf import HFAdapter
    from harness.testing import tiny_model, tokenizer

    model = tiny_model(arch, seed=0, initializer_range=0.3)
    return HFAdapter.from_model(model, tokenizer(), name=f"tiny-{arch}", batch_size=4, **kwargs)


@pytest.fixture(scope="session")
def adapters():
    return {arch: make_adapter(arch) for arch in ("llama", "gpt2", "neox")}


@pytest.fixture
def our_decoders():
    """Point the core's decoder lookup at this plugin's registrations (restored afterwards)."""
    from harness.models import decoding
    from harness_plugins.activation_decoding import plugin

    saved = decoding._DECODERS
    decoding.set_decoders({spec.name: spec for spec in plugin.harness_register_decoders()})
    yield
    decoding._DECODERS = saved
