"""The cross-call prefix KV store: reused prefixes give exactly the outputs of no reuse."""

from __future__ import annotations

import pytest

from harness.models.base import GenerationRequest
from harness.testing import tiny_adapter
from harness.whitebox.prefix_store import PrefixStore

DEMO = "Question: What is the capital of France?\nAnswer: Paris\n" * 5
QUESTIONS = ["Who wrote Hamlet?", "What is the capital city of the country where the Eiffel Tower stands?", "Why?", "Name a river in Egypt"]


def _requests(questions=QUESTIONS, max_new_tokens: int = 10) -> list[GenerationRequest]:
    return [GenerationRequest(prompt=DEMO + q, max_new_tokens=max_new_tokens, stop=("\n\n", "ing")) for q in questions]


@pytest.mark.parametrize("arch", ["llama", "gpt2", "neox"])
def test_prefix_reused_across_calls_equals_no_reuse(arch):
    shared = tiny_adapter(arch, batch_size=4)
    plain = tiny_adapter(arch, batch_size=1, share_prefix=False)
    first = shared.generate(_requests())
    assert shared.prefix_store.misses == 1 and shared.prefix_store.hits == 0
    second = shared.generate(_requests(QUESTIONS[::-1]))  # another call, same demonstrations
    assert shared.prefix_store.hits >= 1
    assert first == plain.generate(_requests())
    assert second == plain.generate(_requests(QUESTIONS[::-1]))


def test_weight_edits_invalidate_stored_prefixes():
    adapter = tiny_adapter("llama", batch_size=4)
    adapter.generate(_requests())
    assert len(adapter.prefix_store) == 1

    class Zero:
        def apply(self, adapter, edits):
            import torch

            with torch.no_grad():
                adapter.layout.blocks[0].mlp.down_proj.weight.mul_(0.0)

    plain = tiny_adapter("llama", batch_size=1, share_prefix=False)
    with adapter.weight_edits(Zero(), []), plain.weight_edits(Zero(), []):
        assert len(adapter.prefix_store) == 0  # a cache from the old weights is never reused
        assert adapter.generate(_requests()) == plain.generate(_requests())
    assert len(adapter.prefix_store) == 0


def test_store_is_bounded_and_returns_private_copies():
    store = PrefixStore(max_entries=2)
    made = []
    for key in ([1, 2], [3], [1, 2], [4], [5]):
        value = store.get_or_compute(key, lambda k: made.append(k) or {"k": list(k)})
        value["k"].append(99)  # callers may mutate their copy
    assert made == [(1, 2), (3,), (4,), (5,)]  # (1, 2) hit once, then evicted by (4,) and (5,)
    assert len(store) == 2 and store.hits == 1
    assert store.get_or_compute([5], lambda k: None) == {"k": [5]}
