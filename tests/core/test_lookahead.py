"""Prompt-lookup drafts: what they guess, and that greedy decoding with them is greedy decoding.

Oracle: the same requests with ``prompt_lookup=0`` (one token per forward). A block forward
rounds differently from single-token ones, so a difference is allowed only where the reference's
top two logits are a floating-point near-tie; every other token must be identical.
"""

import pytest
import torch

from harness.models.base import GenerationRequest as G
from harness.testing import tiny_adapter
from harness.whitebox.decode import StopTracker, decode, hf_block_step, hf_step
from harness.whitebox.lookahead import PromptLookup

NEAR_TIE = 1e-4


def test_draft_continues_the_latest_earlier_occurrence_of_the_longest_suffix():
    look = PromptLookup([[5, 6, 7, 8, 5, 6, 9, 1, 2]], max_tokens=3, max_ngram=3)
    # newest tokens (5, 6): latest earlier occurrence at 4..5 is followed by 9, 1, 2
    assert look.draft(0, [5, 6], room=10) == [9, 1, 2]
    assert look.draft(0, [5, 6], room=2) == [9, 1]  # never past the row's remaining budget
    assert look.draft(0, [7, 8], room=10) == [5, 6, 9]  # the 3-gram (6, 7, 8) is new; (7, 8) occurs
    assert look.draft(0, [42], room=10) == []  # nothing like it earlier
    assert look.draft(0, [5, 6], room=0) == []
    assert PromptLookup([[3, 3, 3]], max_tokens=2).draft(0, [], room=5) == [3]  # the match must have a follower


def test_wide_batches_draft_less_per_row():
    look = PromptLookup([[1]], max_tokens=8, token_budget=32)
    assert [look.per_row(n) for n in (1, 2, 4, 8, 16, 32, 64)] == [8, 8, 7, 3, 1, 0, 0]


def _check_equal_or_near_tie(adapter, ref, got, reqs):
    """Identical results, or a first difference where the reference's top-2 logits nearly tie."""
    for r, a, b in zip(reqs, ref, got):
        if a == b:
            continue
        ta, tb = adapter.tok_encode(a.text), adapter.tok_encode(b.text)
        k = next(i for i in range(min(len(ta), len(tb)) + 1) if i == min(len(ta), len(tb)) or ta[i] != tb[i])
        ids = torch.tensor([adapter.tok_encode(r.prompt) + ta[:k]])
        with torch.no_grad():
            top2 = adapter.model(input_ids=ids).logits[0, -1].topk(2).values
        assert float(top2[0] - top2[1]) < NEAR_TIE, f"{r.prompt!r}: drafts changed a decided token ({a.text!r} vs {b.text!r})"


@pytest.mark.parametrize("arch", ["llama", "gpt2", "neox"])
def test_drafted_greedy_equals_one_token_per_forward(arch):
    plain, drafted = tiny_adapter(arch, batch_size=4, prompt_lookup=0), tiny_adapter(arch, batch_size=4, prompt_lookup=8)
    prompts = ["a b c a b c a b", "one two three one two", "Hi", "x y z x y z x y z x", "the cat sat on the mat the cat"]
    reqs = [G(p, max_new_tokens=24) for p in prompts] + [G(prompts[0], max_new_tokens=5), G(prompts[3], max_new_tokens=24, stop=("z",))]
    forwards = {"plain": 0, "drafted": 0}
    for name, a in (("plain", plain), ("drafted", drafted)):
        a.model.get_input_embeddings().register_forward_hook(lambda m, args, out, name=name: forwards.__setitem__(name, forwards[name] + 1))
    ref, got = plain.generate(reqs), drafted.generate(reqs)
    _check_equal_or_near_tie(plain, ref, got, reqs)
    assert [g.n_tokens for g in got][5] == 5 and got[5].finish_reason == "length"
    assert got[6].finish_reason == ref[6].finish_reason
    assert forwards["drafted"] <= forwards["plain"]
    if arch != "neox":  # these random tiny models repeat themselves, so drafts are accepted (neox's does not)
        assert forwards["drafted"] < forwards["plain"]


def test_drafts_reuse_stored_prefixes_like_plain_decoding():
    """A second call whose prompts extend the first call's transcripts (MeLLo's iterations) reuses
    their caches, in which rejected draft columns were masked: same text as without drafts."""
    plain, drafted = tiny_adapter("llama", prompt_lookup=0), tiny_adapter("llama", prompt_lookup=8)
    first = [G("Q: a b c a b c\nA:", max_new_tokens=12), G("Q: one two one two\nA:", max_new_tokens=12)]
    ref1, got1 = plain.generate(first), drafted.generate(first)
    _check_equal_or_near_tie(plain, ref1, got1, first)
    second = [G(r.prompt + g.text + " and then", max_new_tokens=12) for r, g in zip(first, got1)]
    reused_before = drafted.prefix_store.reused_tokens
    ref2, got2 = plain.generate(second), drafted.generate(second)
    assert drafted.prefix_store.reused_tokens > reused_before
    _check_equal_or_near_tie(plain, ref2, got2, second)


def test_eos_ends_a_drafting_row_where_greedy_does():
    """The decode loop itself: a row that has been accepting drafts ends at the EOS id exactly
    where one-token decoding ends it, with the same tokens and reason."""
    from harness.models.generation import prefill

    adapter = tiny_adapter("gpt2", prompt_lookup=0)
    prompt = adapter.tok_encode("a b c a b c a b")
    free = StopTracker(adapter.tokenizer, [()], set())
    decode(hf_step(adapter.layout), prefill(adapter, [prompt], 24), free, 24)
    first = next(i for i, t in enumerate(free.tokens[0]) if t != free.tokens[0][0])  # after a drafted run of repeats
    assert first >= 4
    eos = free.tokens[0][first]
    ends = {}
    for name, lookup in (("plain", None), ("drafted", PromptLookup([prompt], max_tokens=8))):
        t = StopTracker(adapter.tokenizer, [()], {eos})
        decode(hf_step(adapter.layout), prefill(adapter, [prompt], 24), t, 24, lookup=lookup, block_step=hf_block_step(adapter.layout))
        ends[name] = (t.tokens[0], t.finish[0], t.eos_token[0])
    assert ends["plain"] == ends["drafted"] == (free.tokens[0][:first], "eos", eos)


def test_sliding_window_models_draft_only_inside_the_window():
    """Gemma 3's sliding layers count columns, so masked draft columns could push real tokens out
    of the window: drafting is off when a prompt could reach it, on (and exact) below it."""
    from harness.models.generation import prompt_lookup

    adapter = tiny_adapter("gemma3", prompt_lookup=8)
    window = adapter.model.config.sliding_window
    assert prompt_lookup(adapter, [[1] * (window - 10)], 16) is None
    assert prompt_lookup(adapter, [[1] * 4], 4) is not None
    reqs = [G("a b a b a b", max_new_tokens=4)]
    _check_equal_or_near_tie(adapter, tiny_adapter("gemma3", prompt_lookup=0).generate(reqs), adapter.generate(reqs), reqs)
