"""The nnsight adapter beyond the conformance suite (tests/core/test_conformance.py runs that on
both backends): every forward of the model runs inside one of nnsight's traces."""

from __future__ import annotations

import pytest

pytest.importorskip("nnsight")

from harness.models.base import GenerationRequest, LoglikelihoodRequest  # noqa: E402
from harness.testing import nnsight_subject  # noqa: E402
from harness.whitebox.capabilities import Capability  # noqa: E402

def test_nnsight_declares_no_cached_rerun():
    assert Capability.CACHED_RERUN not in nnsight_subject("llama").make().capabilities


def test_every_model_forward_runs_inside_an_nnsight_trace():
    """Fails if the adapter calls the wrapped module's forward outside a trace (e.g. by
    unwrapping it and running the hf adapter's code)."""
    from harness.interventions import TokenBatch, vanilla
    from harness.models.base import Intervention

    subject = nnsight_subject("llama")
    adapter = subject.make(batch_size=2)
    outside = []

    def guard(module, args, kwargs):
        if not adapter.lm.interleaver.interleaving:
            outside.append(True)

    handle = subject.reference.register_forward_pre_hook(guard, with_kwargs=True)
    try:
        adapter.loglikelihood([LoglikelihoodRequest("The capital of France is", " Paris")] * 3)
        adapter.generate([GenerationRequest("Once upon", max_new_tokens=4, stop=("\n",))] * 3)
        adapter.forward(["a b c", "d"], sites=[0, 1, ("mlp_out", 2)])
        adapter.run_with_interventions(["a b c"], [Intervention(1, [0], lambda h, s: h * 0)], grad=False)
        engine = adapter.interchange_engine()
        ids = [adapter.tok_encode(t) for t in ("the cat sat", "a dog")]
        run = engine.run(TokenBatch.from_ids(ids, adapter.pad_token_id))
        engine.intervene(run, 1, [0, 0], run.at(1, [0, 0]).flip(0), vanilla)
        from harness.interventions import generate_with_intervention

        generate_with_intervention(engine, run, 1, [0, 0], run.at(1, [0, 0]), vanilla, max_new_tokens=3, eos=adapter.eos_ids())
    finally:
        handle.remove()
    assert not outside, f"{len(outside)} forwards ran outside a trace"
    # and the guard itself can fail: a direct call is caught
    handle = subject.reference.register_forward_pre_hook(guard, with_kwargs=True)
    try:
        import torch

        with torch.no_grad():
            subject.reference(input_ids=torch.tensor([[1, 2]]))
    finally:
        handle.remove()
    assert outside


def test_decoding_that_names_no_rule_generates_as_plain_greedy():
    """``decoding=greedy`` names no decoding rule: the core loop generates without one (it used to
    fail on the missing rule) and gives the text of plain greedy generation."""
    adapter = nnsight_subject("llama").make(batch_size=2)
    prompts = ["Once upon a time", "The capital of France is"]
    plain = adapter.generate([GenerationRequest(p, max_new_tokens=5) for p in prompts])
    named = adapter.generate([GenerationRequest(p, max_new_tokens=5, decoding="greedy") for p in prompts])
    assert [r.text for r in named] == [r.text for r in plain]
    assert all(r.text for r in plain)
