"""Residual-stream states and interventions through forward hooks."""

import pytest
import torch

from harness.models.base import Intervention
from harness.testing import tiny_adapter

TEXTS = ["The capital of France is", "Hello", "A longer sentence with several more tokens in it"]


@pytest.mark.parametrize("arch", ["llama", "gpt2", "neox"])
def test_states_match_transformers_hidden_states(arch):
    adapter = tiny_adapter(arch)
    ids, mask, lengths = adapter.encode_batch(TEXTS)
    with torch.no_grad():
        ref = adapter.model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
    out = adapter.forward(TEXTS, sites=range(adapter.num_layers + 1))
    for site in range(adapter.num_layers):  # HF's last entry is after the final norm; ours is before
        for i, n in enumerate(lengths):
            torch.testing.assert_close(out.states[site][i, :n], ref[site][i, :n], atol=1e-5, rtol=1e-5)
    final = adapter.unembed(out.states[adapter.num_layers], final_norm=True)
    for i, n in enumerate(lengths):
        torch.testing.assert_close(final[i, :n], out.logits[i, :n], atol=1e-4, rtol=1e-4)


def test_hidden_states_at_positions_are_padding_aware():
    adapter = tiny_adapter("llama")
    batched = adapter.hidden_states(TEXTS, sites=[2], positions=[-1, 0, 3])[2]
    for i, (text, pos) in enumerate(zip(TEXTS, [-1, 0, 3])):
        alone = adapter.hidden_states([text], sites=[2])[2][0]
        torch.testing.assert_close(batched[i], alone[pos], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("arch", ["llama", "gpt2", "neox"])
def test_interchange_intervention_matches_manual_patch(arch):
    adapter = tiny_adapter(arch)
    base, source = ["The cat sat on the mat"], ["A dog ran in the park"]
    site = 2
    src = adapter.hidden_states(source, sites=[site], positions=[1])[site]
    out = adapter.run_with_interventions(base, [Intervention(site, [1], lambda h, _s: src)], grad=False)
    clean = adapter.forward(base)
    # positions before the patch are unaffected (causal attention); at and after it they change
    torch.testing.assert_close(out.logits[0, :1], clean.logits[0, :1], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(out.logits[0, 1:], clean.logits[0, 1:])
    # identity interventions change nothing, at any site including the embeddings
    same = adapter.run_with_interventions(base, [Intervention(s, [-1], lambda h, _s: h) for s in (0, 1, 3)], grad=False)
    torch.testing.assert_close(same.logits, clean.logits)


def test_gradients_flow_into_trainable_interventions():
    adapter = tiny_adapter("llama")
    shift = torch.zeros(adapter.hidden_size, requires_grad=True)
    out = adapter.run_with_interventions(TEXTS[:2], [Intervention(1, [-1, -1], lambda h, _s: h + shift)])
    out.at([-1, -1]).logsumexp(-1).sum().backward()
    assert shift.grad is not None and shift.grad.abs().sum() > 0
    assert all(p.grad is None for p in adapter.model.parameters())


def test_hooks_removed_even_when_forward_raises():
    adapter = tiny_adapter("llama")

    def boom(h, _s):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        adapter.run_with_interventions(TEXTS[:1], [Intervention(1, [0], boom)])
    assert all(not b._forward_hooks and not b._forward_pre_hooks for b in adapter.layout.blocks)
    with pytest.raises(IndexError):
        adapter.run_with_interventions(TEXTS[:1], [Intervention(1, [50], lambda h, _s: h)])
    assert all(not b._forward_hooks for b in adapter.layout.blocks)


def test_weight_edits_are_restored():
    adapter = tiny_adapter("llama")
    before = adapter.forward(TEXTS[:1]).logits

    class Zero:
        def apply(self, adapter, edits):
            with torch.no_grad():
                adapter.layout.blocks[0].mlp.down_proj.weight.mul_(0.0)

    with adapter.weight_edits(Zero(), ["edit"]):
        assert not torch.allclose(adapter.forward(TEXTS[:1]).logits, before)
    torch.testing.assert_close(adapter.forward(TEXTS[:1]).logits, before)
