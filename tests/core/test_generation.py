"""Generation: batched greedy == one at a time, stop strings, seeded sampling, decoding rules."""

import pytest
import torch

from harness.models.base import GenerationRequest as G
from harness.models.generation import MIN_SHARED_PREFIX, shared_prefix_length
from harness.whitebox.decode import cut_at_stop
from harness.testing import tiny_adapter

PROMPTS = ["Once upon a time", "Hi", "The cat sat on the mat and then it", "1, 2, 3,", "Q: What is the capital of France?\nA:"]


@pytest.mark.parametrize("arch", ["llama", "gpt2", "neox"])
def test_batched_greedy_equals_one_at_a_time(arch):
    batched, single = tiny_adapter(arch, batch_size=4), tiny_adapter(arch, batch_size=1)
    reqs = [G(p, max_new_tokens=12) for p in PROMPTS]
    got = batched.generate(reqs)
    ref = [single.generate([r])[0] for r in reqs]
    assert [g.text for g in got] == [r.text for r in ref]
    assert all(g.n_tokens == 12 and g.finish_reason == "length" for g in got)


PRIMER = "Q: What is two plus two?\nA: Four.\n\nQ: Name a colour of the sky.\nA: Blue.\n\n"


@pytest.mark.parametrize("arch", ["llama", "gpt2", "neox"])
def test_shared_prefix_batches_equal_one_at_a_time(arch):
    """A few-shot primer shared by the batch runs once; padding then sits between prefix and
    suffix, and every row must still generate exactly what it generates alone."""
    batched, single = tiny_adapter(arch, batch_size=8), tiny_adapter(arch, batch_size=1)
    prompts = [PRIMER + f"Q: {q}\nA:" for q in ("Hi?", "Where is Paris, the capital of France?", "Why?", "1, 2, 3?")]
    assert shared_prefix_length([batched.tok_encode(p) for p in prompts]) >= MIN_SHARED_PREFIX
    reqs = [G(p, max_new_tokens=10) for p in prompts]
    got = batched.generate(reqs)
    ref = [single.generate([r])[0] for r in reqs]
    assert [g.text for g in got] == [r.text for r in ref]


def test_shared_prefix_length_leaves_every_prompt_a_token():
    assert shared_prefix_length([[1, 2, 3], [1, 2, 3]]) == 2
    assert shared_prefix_length([[1, 2, 3, 4], [1, 2, 5]]) == 2
    assert shared_prefix_length([[1, 2], [3]]) == 0
    assert shared_prefix_length([[1, 2, 3]]) == 0


def test_greedy_equals_transformers_generate():
    adapter = tiny_adapter("llama")
    ids = torch.tensor([adapter.tok_encode(PROMPTS[0])])
    hf = adapter.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=10, do_sample=False,
                                pad_token_id=adapter.tokenizer.pad_token_id, eos_token_id=None)
    expected = adapter.tokenizer.decode(hf[0, ids.shape[1]:], skip_special_tokens=True)
    assert adapter.generate([G(PROMPTS[0], max_new_tokens=10)])[0].text == expected


def test_stop_strings_cut_each_sequence():
    adapter = tiny_adapter("llama", batch_size=4)
    free = adapter.generate([G(p, max_new_tokens=16) for p in PROMPTS])
    # choose, per prompt, a stop string that occurs in its free-running output
    stops = [g.text[len(g.text) // 2 : len(g.text) // 2 + 2] or "zz" for g in free]
    cut = adapter.generate([G(p, max_new_tokens=16, stop=(s,)) for p, s in zip(PROMPTS, stops)])
    for full, short, stop in zip(free, cut, stops):
        assert stop not in short.text
        assert full.text.startswith(short.text)
        assert short.finish_reason == "stop"
        assert short.text == full.text[: full.text.find(stop)]


def test_cut_at_stop_takes_the_earliest():
    assert cut_at_stop("abc Q: def\n\nx", ("\n\n", "Q:")) == ("abc ", True)
    assert cut_at_stop("nothing", ("Q:",)) == ("nothing", False)


def test_seeded_sampling_is_reproducible_and_batch_independent():
    adapter = tiny_adapter("gpt2", batch_size=4)
    reqs = [G(p, max_new_tokens=8, do_sample=True, temperature=1.0, seed=7 + i) for i, p in enumerate(PROMPTS)]
    a = [g.text for g in adapter.generate(reqs)]
    b = [g.text for g in adapter.generate(list(reversed(reqs)))][::-1]
    assert a == b
    other = adapter.generate([G(PROMPTS[0], max_new_tokens=8, do_sample=True, seed=999)])[0].text
    greedy = adapter.generate([G(PROMPTS[0], max_new_tokens=8)])[0].text
    assert a[0] != greedy or other != greedy  # sampling really samples


class BanToken:
    """A decoding rule that forbids the greedy token of the plain model at every step."""

    needs_states = True
    sites = (1,)

    def __init__(self, adapter, token):
        self.token, self.seen_states = token, []

    def start(self, adapter, prompt):
        self.prompt_lengths = prompt.lengths

    def scores(self, logits, states, step):
        self.seen_states.append(states[1].shape)
        out = logits.clone()
        out[:, self.token] = float("-inf")
        return out


def test_custom_decoding_rule_is_used():
    from harness.registry import DecoderSpec

    adapter = tiny_adapter("llama")
    plain = adapter.generate([G(PROMPTS[0], max_new_tokens=6)])[0]
    first = adapter.tok_encode(plain.text)[0]
    rules = []

    def factory(adapter, token):
        rules.append(BanToken(adapter, token))
        return rules[-1]

    with pytest.raises(ValueError, match="unknown decoding strategy 'ban'; registered: none"):
        adapter.generate([G(PROMPTS[0], max_new_tokens=2, decoding="ban,token=1")])  # nothing registered yet
    adapter.use_decoders({"ban": DecoderSpec("ban", factory)})
    res = adapter.generate([G(PROMPTS[0], max_new_tokens=6, decoding=f"ban,token={first}")])[0]
    assert first not in adapter.tok_encode(res.text)[:1]
    assert rules[0].seen_states[0] == (1, 1, adapter.hidden_size)
    with pytest.raises(ValueError, match="unknown decoding strategy"):
        adapter.generate([G(PROMPTS[0], max_new_tokens=2, decoding="nope")])


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
@pytest.mark.parametrize("prompt_lookup", [0, 8])
def test_finished_rows_leave_the_batch(arch, prompt_lookup):
    """Per-row stopping: rows that ended stop costing a forward; the others are unchanged.
    With drafts, rows that accept more of theirs reach the token limit sooner and leave too."""
    batched = tiny_adapter(arch, batch_size=8, prompt_lookup=prompt_lookup)
    single = tiny_adapter(arch, batch_size=1, prompt_lookup=0)
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]
    reqs = [G(prompt=f"A list of words: {w}", max_new_tokens=10, stop=tuple("aeiou ") if i % 2 else ())
            for i, w in enumerate(words)]
    rows: list[int] = []
    batched.model.get_input_embeddings().register_forward_hook(lambda m, args, out: rows.append(args[0].shape[0]))
    got = batched.generate(reqs)
    assert got == [single.generate([r])[0] for r in reqs]
    assert sum(g.finish_reason == "stop" for g in got) == 4  # the rows with stops end early...
    assert rows[0] == 8 and (rows[-1] == 4 if not prompt_lookup else rows[-1] <= 4)  # ...and leave the batch
