"""The cached interchange engine against the plain full-forward-with-hooks reference."""

from __future__ import annotations

import pytest
import torch

from harness.interventions import (
    CachedProblem,
    HookedProblem,
    InterchangeEngine,
    RotatedSubspace,
    Subspace,
    TokenBatch,
    generate_with_intervention,
    vanilla,
)
from reference import generate_full
from harness.testing import tiny_model

ARCHS = ["llama", "gpt2", "neox", "gemma3"]


def make_model(arch):
    if arch != "gemma3":
        return tiny_model(arch, seed=1, vocab_size=2048)  # small vocab: the LM head dominates otherwise
    from transformers import AutoModelForCausalLM, Gemma3TextConfig

    torch.manual_seed(1)
    cfg = Gemma3TextConfig(vocab_size=2048, hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=4,
                           num_key_value_heads=2, head_dim=16, sliding_window=64, max_position_embeddings=256,
                           final_logit_softcapping=30.0)  # sliding layers, scaled embeddings, soft-capped logits
    return AutoModelForCausalLM.from_config(cfg, attn_implementation="eager").eval()


def random_batch(lengths, seed):
    gen = torch.Generator().manual_seed(seed)
    return TokenBatch.from_ids([torch.randint(3, 2000, (n,), generator=gen).tolist() for n in lengths], pad_id=0)


@pytest.fixture(scope="module", params=ARCHS)
def setup(request):
    model = make_model(request.param)
    engine = InterchangeEngine(model)
    base = random_batch([7, 9, 5, 8], seed=2)
    source = random_batch([6, 9, 8, 4], seed=3)
    return engine, base, source


BASE_POS = [2, 4, 1, -2]
SRC_POS = [3, -1, 5, 2]


def test_clean_run_matches_model(setup):
    engine, base, _ = setup
    run = engine.run(base)
    ref = engine.model(input_ids=base.input_ids, attention_mask=base.attention_mask, output_hidden_states=True)
    rows = torch.arange(len(base))
    torch.testing.assert_close(engine.clean_logits(run), ref.logits[rows, base.last_positions], atol=1e-5, rtol=0)
    for site in range(engine.num_layers):  # hidden_states[L] is post-norm in some families; sites are pre-norm
        for i, n in enumerate(base.lengths):
            torch.testing.assert_close(run.states[site][i, :n], ref.hidden_states[site][i, :n], atol=1e-5, rtol=0)
    assert len(run.keys) == engine.num_layers and run.keys[0].shape[2] == base.input_ids.shape[1]


@pytest.mark.parametrize("kind", ["vanilla", "subspace"])
def test_cached_equals_full_forward_at_every_site(setup, kind):
    engine, base, source = setup
    base_run, src_run = engine.run(base), engine.run(source)
    d = base_run.states[0].shape[-1]
    fn = vanilla if kind == "vanilla" else Subspace(torch.randn(2, d, generator=torch.Generator().manual_seed(0)))
    clean = engine.clean_logits(base_run)
    for site in range(engine.num_sites):
        cached = engine.intervene(base_run, site, BASE_POS, src_run.at(site, SRC_POS), fn)
        full = engine.intervene_full(base, source, site, BASE_POS, SRC_POS, fn)
        torch.testing.assert_close(cached, full, atol=1e-4, rtol=0)
        if site < engine.num_layers:  # the intervention really changed something
            assert (cached - clean).abs().max() > 1e-4


def test_read_positions_before_the_edit_are_unchanged(setup):
    engine, base, source = setup
    base_run, src_run = engine.run(base), engine.run(source)
    read = [1, 3, 0, 2]  # all before BASE_POS -> clean logits there
    out = engine.intervene(base_run, 1, BASE_POS, src_run.at(1, SRC_POS), vanilla, read_positions=read)
    ref = engine.intervene_full(base, source, 1, BASE_POS, SRC_POS, vanilla, read_positions=read)
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=0)
    torch.testing.assert_close(out, engine.clean_logits(base_run, read), atol=1e-5, rtol=0)


def test_gradients_match_the_reference(setup):
    engine, base, source = setup
    base_run, src_run = engine.run(base), engine.run(source)
    d = base_run.states[0].shape[-1]
    targets = torch.tensor([5, 6, 7, 8])
    site = 1
    cached = CachedProblem.build(engine, base_run, src_run, site, BASE_POS, SRC_POS, targets)
    hooked = HookedProblem(engine, base, source, site, base.resolve(BASE_POS), source.resolve(SRC_POS), targets)
    grads = []
    for problem in (cached, hooked):
        module = RotatedSubspace(d, rank=1, seed=0)
        loss = torch.nn.functional.cross_entropy(problem.logits(module, rows=[0, 2, 3]), targets[[0, 2, 3]])
        loss.backward()
        grads.append(torch.cat([p.grad.reshape(-1) for p in module.parameters()]))
    torch.testing.assert_close(grads[0], grads[1], atol=1e-5, rtol=1e-4)
    assert all(not p.requires_grad or p.grad is None for p in engine.model.parameters())


def test_generation_cached_equals_reference(setup):
    engine, base, source = setup
    base_run, src_run = engine.run(base), engine.run(source)
    for site in (0, 2, engine.num_layers):
        fast = generate_with_intervention(engine, base_run, site, BASE_POS, src_run.at(site, SRC_POS), vanilla, max_new_tokens=3)
        slow = generate_full(engine, base, source, site, BASE_POS, SRC_POS, vanilla, max_new_tokens=3)
        assert torch.equal(fast.tokens, slow.tokens)
        for a, b in zip(fast.logits, slow.logits):
            torch.testing.assert_close(a, b, atol=1e-4, rtol=0)


def test_select_and_chunked_run_agree(setup):
    engine, base, _ = setup
    whole = engine.run(base)
    chunked = engine.run(base, chunk_size=3)
    for s in range(engine.num_sites):
        for i, n in enumerate(base.lengths):
            torch.testing.assert_close(whole.states[s][i, :n], chunked.states[s][i, :n], atol=1e-5, rtol=0)
    sub = whole.select([3, 1])
    assert sub.batch.lengths == [8, 9]
    torch.testing.assert_close(sub.states[2][0, :8], whole.states[2][3, :8])


def test_bad_site_and_position_are_reported(setup):
    engine, base, source = setup
    run, src = engine.run(base), engine.run(source)
    with pytest.raises(IndexError, match="site 99"):
        engine.intervene(run, 99, BASE_POS, src.at(1, SRC_POS), vanilla)
    with pytest.raises(IndexError, match="outside example"):
        engine.intervene(run, 1, [0, 0, 0, 50], src.at(1, SRC_POS), vanilla)


def test_several_reads_per_example_and_site_subsets(setup):
    engine, base, source = setup
    base_run, src_run = engine.run(base), engine.run(source)
    reads = torch.tensor([[3, 6], [4, 8], [2, 4], [-2, -1]])
    many = engine.intervene(base_run, 2, BASE_POS, src_run.at(2, SRC_POS), vanilla, read_positions=reads)
    assert many.shape[:2] == (4, 2)
    for j in range(2):
        one = engine.intervene_full(base, source, 2, BASE_POS, SRC_POS, vanilla, read_positions=reads[:, j])
        torch.testing.assert_close(many[:, j], one, atol=1e-4, rtol=0)
    slim = engine.run(base, sites=[2])
    assert slim.states[1].shape[-1] == 0 and slim.states[2].shape == base_run.states[2].shape
    torch.testing.assert_close(engine.intervene(slim, 2, BASE_POS, src_run.at(2, SRC_POS), vanilla),
                               engine.intervene(base_run, 2, BASE_POS, src_run.at(2, SRC_POS), vanilla), atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="kept no states at site 1"):
        slim.at(1, BASE_POS)


def test_per_row_windows_equal_the_one_window_re_run(setup, monkeypatch):
    """Bases whose windows differ run each its own positions (left-aligned after their cached
    prefixes); logits and gradients are those of the batch-wide window."""
    from harness.interventions import row_resume

    engine, base, source = setup
    base_run, src_run = engine.run(base), engine.run(source)
    pos = base.resolve(BASE_POS)
    read = torch.stack([base.resolve([-1] * len(base)), base.resolve([-2] * len(base))], 1)
    assert row_resume.worth_it(engine, *row_resume.row_windows(pos, read))
    d = base_run.states[0].shape[-1]
    outs = []
    for per_row in (True, False):
        if not per_row:
            monkeypatch.setattr(row_resume, "worth_it", lambda *a: False)
        module = RotatedSubspace(d, rank=2, seed=0)
        logits = engine.intervene(base_run, 1, BASE_POS, src_run.at(1, SRC_POS), module, read_positions=read)
        logits.logsumexp(-1).sum().backward()
        outs.append((logits.detach(), torch.cat([p.grad.reshape(-1) for p in module.parameters()])))
    torch.testing.assert_close(outs[0][0], outs[1][0], atol=1e-4, rtol=0)
    torch.testing.assert_close(outs[0][1], outs[1][1], atol=1e-4, rtol=1e-4)
