"""Model-side oracles on tiny random models: the cached multi-read engine equals a hooked full
forward, batched generation equals unbatched, an identity intervention changes nothing and a
full swap at the embeddings turns the base into the source."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from harness.interventions.functions import RotatedSubspace
from harness.interventions.tokens import TokenBatch
from harness.models.base import Intervention
from harness.models.hf import HFAdapter
from harness.testing import tiny_model, tokenizer
from harness_plugins.ravel.data import Template
from harness_plugins.ravel.engine_ext import encode_prompts, teacher_forced
from harness_plugins.ravel.runner import RavelRunner, keep_base
from harness_plugins.ravel.trainable import multi_token_loss


@torch.no_grad()
def hooked_greedy(ad, prompts, n, site=None, positions=None, fn=None, sources=None):
    """Reference: re-run the whole sequence every step, intervening with a forward hook."""
    seqs = [list(p) for p in prompts]
    for _ in range(n):
        batch = TokenBatch.from_ids(seqs, ad.tokenizer.pad_token_id)
        ivs = [Intervention(site, positions, fn, source=sources)] if fn is not None else []
        out = ad.forward_ids(batch.input_ids, batch.attention_mask, batch.lengths, interventions=ivs)
        nxt = out.at([-1] * len(seqs)).argmax(-1).tolist()
        seqs = [s + [t] for s, t in zip(seqs, nxt)]
    return [tuple(s[len(p):]) for s, p in zip(seqs, prompts)]

TEMPLATES = ["%s is a city in the country of", "Q: Which continent is %s on?\nA:"]
ENTITIES = ["Paris", "Rio de Janeiro", "Tokyo", "Lagos", "Ho Chi Minh City"]


def adapter(arch: str = "llama", **kw) -> HFAdapter:
    return HFAdapter.from_model(tiny_model(arch, 0, initializer_range=0.2), tokenizer(), name=f"tiny-{arch}", **kw)


def _texts_spans():
    pairs = [(Template(t, "Country", "train"), e) for t in TEMPLATES for e in ENTITIES]
    return [t.fill(e) for t, e in pairs], [t.entity_span(e) for t, e in pairs]


@pytest.mark.parametrize("bos", [False, True])
def test_encode_prompts_matches_the_adapter(bos):
    ad = adapter(add_bos_token=bos)
    texts, spans = _texts_spans()
    ids, pos = encode_prompts(ad, texts, spans)
    assert ids == [ad.tok_encode(t) for t in texts]
    for seq, p, text, (s, e) in zip(ids, pos, texts, spans):
        assert ad.tokenizer.decode(seq[: p + 1]).endswith(text[s:e])


@pytest.mark.parametrize("arch,warm", [("llama", False), ("gpt2", False), ("neox", False), ("llama", True), ("gpt2", True)])
def test_teacher_forced_problem_equals_hooked_full_forward(arch, warm):
    """The training problem (cached engine, (B, 3) reads) gives the logits of a full forward
    of prompt + target tokens with a hook, and gradients reach the rotation. ``warm``: the
    prompts were run clean before (as instance building does), so only the target columns run."""
    ad = adapter(arch)
    texts, spans = _texts_spans()
    runner = RavelRunner(ad, site=1, batch_size=4)  # chunked clean runs
    if warm:
        runner.complete(texts, budgets=[1] * len(texts))
    before = runner.store.computed_tokens
    examples = [SimpleNamespace(input=t, entity_span=s, source_input=texts[-1 - i], source_span=spans[-1 - i],
                                inv_label_tokens=(11, 22, 33)[: 1 + i % 3], label_tokens=(44, 55))
                for i, (t, s) in enumerate(zip(texts, spans))]
    problem = runner.problem(examples, [i % 2 == 0 for i in range(len(examples))])
    ids, pos = runner.encode(texts, spans)
    if warm:  # each base ran at most its target columns and what its batch's shortest prompt lacks
        assert runner.store.computed_tokens - before < sum(map(len, ids))
    targets = [e.inv_label_tokens if i % 2 == 0 else e.label_tokens for i, e in enumerate(examples)]
    seqs, reads, tgts = teacher_forced(ids, targets, 3)
    assert torch.equal(problem.targets, tgts) and torch.equal(problem.read_positions, reads)
    fn = RotatedSubspace(ad.hidden_size, rank=8, seed=1)
    src = runner.entity_states([e.source_input for e in examples], [e.source_span for e in examples])
    batch = TokenBatch.from_ids(seqs, ad.tokenizer.pad_token_id)
    with torch.no_grad():
        fast = problem.logits(fn)
        ref = ad.forward_ids(batch.input_ids, batch.attention_mask, batch.lengths,
                             interventions=[Intervention(1, pos, fn, source=src)]).logits
    slow = ref[torch.arange(len(seqs))[:, None], reads]
    assert fast.shape == slow.shape == (len(seqs), 3, ad.model.config.vocab_size)
    torch.testing.assert_close(fast, slow, atol=1e-4, rtol=1e-4)
    loss = multi_token_loss(problem.logits(fn, torch.tensor([0, 3, 5])), problem.targets[[0, 3, 5]])
    loss.backward()
    assert fn.proj.parametrizations.weight.original.grad is not None
    assert all(p.grad is None for p in ad.model.parameters())  # the model stays frozen


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_generation_matches_a_hooked_full_forward_loop(arch):
    ad = adapter(arch)
    texts, spans = _texts_spans()
    r1, r4 = RavelRunner(ad, 2, max_new_tokens=3, batch_size=1), RavelRunner(ad, 2, max_new_tokens=3, batch_size=4)
    clean1, clean4 = r1.complete(texts), r4.complete(texts)
    ids, pos = r4.encode(texts, spans)
    assert [c.tokens for c in clean1] == [c.tokens for c in clean4] == hooked_greedy(ad, ids, 3)
    assert all(len(c.tokens) == 3 and c.truncated for c in clean4)
    assert [c.prefix_texts[-1] for c in clean4] == [c.text for c in clean4]
    src = r4.entity_states(list(reversed(texts)), list(reversed(spans)))
    same = r4.generate(ids, pos, keep_base, src)
    assert [c.tokens for c in same] == [c.tokens for c in clean4]
    fn = RotatedSubspace(ad.hidden_size, rank=16, seed=3)
    swapped = r4.generate(ids, pos, fn, src)
    assert [c.tokens for c in swapped] == hooked_greedy(ad, ids, 3, 2, pos, fn, src)
    assert [c.tokens for c in swapped] != [c.tokens for c in clean4]


def test_full_swap_of_the_embedding_turns_base_into_source():
    """At site 0 a single-token entity's state *is* its token: swapping it gives the source's output."""
    ad = adapter()
    runner = RavelRunner(ad, site=0, batch_size=4)
    t = Template("%s is a city in the country of", "Country", "train")
    candidates = ["Paris", "Rome", "London", "Berlin", "Madrid", "Boston", "Chicago", "Tokyo", "Dublin"]
    single = [e for e in candidates if len(ad.tokenizer(e, add_special_tokens=False)["input_ids"]) == 1]
    assert len(single) >= 3
    texts, spans = [t.fill(e) for e in single], [t.entity_span(e) for e in single]
    clean = runner.complete(texts)
    ids, pos = runner.encode(texts, spans)
    order = list(range(1, len(single))) + [0]
    src = runner.entity_states([texts[i] for i in order], [spans[i] for i in order])
    out = runner.generate(ids, pos, lambda hb, hs: hs, src)
    assert [o.tokens for o in out] == [clean[i].tokens for i in order]
