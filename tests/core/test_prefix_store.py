"""The cross-call prefix KV store: reused prefixes give exactly the outputs of no reuse."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
import torch

from harness.models.base import GenerationRequest
from harness.testing import tiny_adapter
from harness.models.generation import shared_prefix_length
from harness.whitebox.prefix_store import PrefixStore, assemble, cache_layers

DEMO = "Question: What is the capital of France?\nAnswer: Paris\n" * 5
QUESTIONS = ["Who wrote Hamlet?", "What is the capital city of the country where the Eiffel Tower stands?", "Why?", "Name a river in Egypt"]


def _requests(questions=QUESTIONS, max_new_tokens: int = 10) -> list[GenerationRequest]:
    return [GenerationRequest(prompt=DEMO + q, max_new_tokens=max_new_tokens, stop=("\n\n", "ing")) for q in questions]


@pytest.mark.parametrize("arch", ["llama", "gpt2", "neox"])
def test_prefix_reused_across_calls_equals_no_reuse(arch):
    shared = tiny_adapter(arch, batch_size=4)
    plain = tiny_adapter(arch, batch_size=1, share_prefix=False)
    first = shared.generate(_requests())
    primer = shared_prefix_length([shared.tok_encode(r.prompt) for r in _requests()])
    assert shared.prefix_store.reused_tokens >= primer * len(QUESTIONS)  # every row of every batch reused it
    with counted_tokens(shared) as ran:
        second = shared.generate(_requests(QUESTIONS[::-1]))  # another call, same demonstrations
    prompts = [shared.tok_encode(r.prompt) for r in _requests()]
    assert sum(ran) <= sum(len(p) - primer for p in prompts) + 2 * 10 * len(prompts)  # the primer never ran again
    assert first == plain.generate(_requests())
    assert second == plain.generate(_requests(QUESTIONS[::-1]))


@contextmanager
def counted_tokens(adapter):
    """The number of token positions each forward of the model runs (its real cost)."""
    ran: list[int] = []
    handle = adapter.model.get_input_embeddings().register_forward_hook(lambda m, args, out: ran.append(args[0].numel()))
    try:
        yield ran
    finally:
        handle.remove()


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_a_prompt_that_extends_an_earlier_generation_runs_only_its_new_tokens(arch):
    """MeLLo's loop: the next prompt is the last prompt, its generation and a retrieved fact."""
    shared = tiny_adapter(arch, batch_size=4)
    plain = tiny_adapter(arch, batch_size=1, share_prefix=False)
    reqs = _requests(max_new_tokens=6)
    firsts = shared.generate(reqs)
    follow = [GenerationRequest(prompt=r.prompt + g.text + "\nRetrieved fact: Paris is in France.\n", max_new_tokens=6, stop=r.stop)
              for r, g in zip(reqs, firsts)]
    with counted_tokens(shared) as ran:
        again = shared.generate(follow)
    assert again == plain.generate(follow)
    fact = len(shared.tok_encode("\nRetrieved fact: Paris is in France.\n"))
    # prefill: at most the fact, the generated tokens a stop string cut, and a boundary token per row;
    # then at most 5 decode steps of 4 rows
    assert ran[0] <= len(follow) * (fact + 6 + 1) and sum(ran[1:]) <= 5 * len(follow)
    assert ran[0] * 5 < sum(len(shared.tok_encode(r.prompt)) for r in follow)


def test_weight_edits_invalidate_stored_prefixes():
    adapter = tiny_adapter("llama", batch_size=4)
    adapter.generate(_requests())
    assert len(adapter.prefix_store) >= 1

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


def _layers(n: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(1, 2, n, 4, generator=g), torch.randn(1, 2, n, 4, generator=g)) for _ in range(3)]


def test_store_finds_the_longest_common_prefix_and_is_bounded_in_bytes():
    per_token = 3 * 2 * 2 * 4 * 4  # layers x (k, v) x heads x dim x float32 bytes
    store = PrefixStore(max_bytes=10 * per_token)
    store.put([1, 2, 3, 4], _layers(4))
    store.put([1, 2, 9], _layers(3, seed=1))
    n, layers = store.longest([1, 2, 3, 7, 7])
    assert n == 3 and torch.equal(layers[0][0], _layers(4)[0][0][:, :, :3])
    assert store.longest([1, 2, 9, 9], limit=2)[0] == 2 and store.longest([5, 1])[0] == 0
    store.put([1, 2, 3, 4, 5, 6], _layers(6, seed=2))  # extends [1, 2, 3, 4]: that one is dropped
    assert len(store) == 2 and store.nbytes == 9 * per_token
    store.put([8, 8], _layers(2, seed=3))  # over 10 tokens' worth: the least recently used goes
    assert store.nbytes <= 10 * per_token and store.longest([1, 2, 9])[0] == 2  # [1, 2, 9] was evicted
    store.put(list(range(11)), _layers(11))  # larger than the whole budget: never stored
    assert store.longest(list(range(11)))[0] == 0


def test_assembled_batch_caches_are_private_and_left_padded():
    store = PrefixStore()
    store.put([1, 2, 3], _layers(3))
    rows = [store.longest([1, 2, 3, 4]), store.longest([1, 2, 5]), (0, None)]
    cache, mask = assemble(rows, None)
    assert mask.tolist() == [[1, 1, 1], [0, 1, 1], [0, 0, 0]]
    keys = cache_layers(cache)[0][0]
    assert torch.equal(keys[1, :, 1:], _layers(3)[0][0][0, :, :2]) and not keys[2].any()
    keys.add_(1.0)  # callers extend and change their batch cache freely
    assert torch.equal(store.longest([1, 2, 3])[1][0][0], _layers(3)[0][0])
