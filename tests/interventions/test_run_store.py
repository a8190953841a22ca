"""RunStore: clean runs assembled from stored rows, or extended from a stored prefix, equal the
engine's fresh runs of the same sequences; the store stays within its byte bound."""

from __future__ import annotations

import pytest
import torch

from harness.interventions import InterchangeEngine, TokenBatch
from harness.interventions.run_store import RunStore, shared_heads
from test_engine import ARCHS, make_model

SITE = 2


def _seqs(lengths, seed):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randint(3, 2000, (n,), generator=gen).tolist() for n in lengths]


def _assert_same(a, b, seqs, sites, atol=1e-5):
    """Every real column of ``a`` and ``b`` agrees (padding columns are masked and never read)."""
    real = TokenBatch.from_ids(seqs).attention_mask.bool()
    assert a.batch.lengths == b.batch.lengths
    for s in sites:
        torch.testing.assert_close(a.states[s][real], b.states[s][real], atol=atol, rtol=0)
    for x, y in zip(a.keys + a.values, b.keys + b.values):
        torch.testing.assert_close(x.transpose(1, 2)[real], y.transpose(1, 2)[real], atol=atol, rtol=0)
    torch.testing.assert_close(a.final[real], b.final[real], atol=atol, rtol=0)


@pytest.mark.parametrize("arch", ARCHS)
def test_assembled_and_extended_runs_equal_fresh_ones(arch):
    engine = InterchangeEngine(make_model(arch))
    store = RunStore(engine, [SITE])
    prompts = _seqs([9, 4, 13, 7], seed=0)
    first = store.run(prompts, chunk_size=2)
    _assert_same(first, engine.run(TokenBatch.from_ids(prompts), sites=[SITE]), prompts, [SITE])
    assert store.computed_tokens == sum(map(len, prompts))

    again = [prompts[2], prompts[0], prompts[3]]  # another batch of stored prompts: nothing runs
    before = store.computed_tokens
    _assert_same(store.run(again), engine.run(TokenBatch.from_ids(again), sites=[SITE]), again, [SITE])
    assert store.computed_tokens == before

    tails = _seqs([3, 1, 2, 2], seed=1)
    longer = [p + t for p, t in zip(prompts, tails)]  # e.g. prompt + teacher-forced targets
    ext = store.run(longer, chunk_size=4, extends=[len(p) for p in prompts], keep=False)
    _assert_same(ext, engine.run(TokenBatch.from_ids(longer), sites=[SITE]), longer, [SITE])
    assert store.computed_tokens - before < sum(map(len, longer))  # the stored prompts were not re-run
    assert all(seq not in store for seq in longer)  # keep=False


def test_a_run_from_the_store_gives_the_same_intervention():
    engine = InterchangeEngine(make_model("llama"))
    store = RunStore(engine, [SITE])
    prompts = _seqs([8, 11, 6], seed=2)
    store.run(prompts[::-1], chunk_size=1)  # stored from batches of one
    src = torch.randn(3, engine.model.config.hidden_size, generator=torch.Generator().manual_seed(3))
    swap = lambda b, s: s  # noqa: E731
    fresh = engine.intervene(engine.run(TokenBatch.from_ids(prompts), sites=[SITE]), SITE, [2, 5, 1], src, swap)
    stored = engine.intervene(store.run(prompts), SITE, [2, 5, 1], src, swap)
    torch.testing.assert_close(stored, fresh, atol=1e-5, rtol=0)


def test_the_store_keeps_at_most_max_bytes_dropping_the_least_recently_used():
    engine = InterchangeEngine(make_model("llama"))
    probe = RunStore(engine, [SITE])
    prompts = _seqs([10, 10, 10], seed=4)
    probe.run(prompts[:1])
    one_row = probe._nbytes
    store = RunStore(engine, [SITE], max_bytes=2 * one_row)
    store.run(prompts[:2])
    store.run(prompts[:1])  # touch the first: the second is now the oldest
    store.run(prompts[2:])
    assert store._nbytes <= 2 * one_row
    assert prompts[0] in store and prompts[2] in store and prompts[1] not in store
    assert store.state(prompts[0], SITE, 3) is not None and store.state(prompts[1], SITE, 3) is None


def test_shared_heads_group_sequences_while_sharing_saves_tokens():
    seqs = [(1, 2, 3, 4, 5, 6), (1, 2, 3, 4, 5, 7), (1, 2, 3, 4, 9, 9, 9), (1, 2, 3, 9, 9), (8, 8, 8, 8, 8)]
    assert shared_heads(seqs, 4) == {seqs[0]: (1, 2, 3, 4), seqs[1]: (1, 2, 3, 4), seqs[2]: (1, 2, 3, 4)}
    assert shared_heads([(1, 2, 3, 4, 5)], 4) == {}  # a group of one shares nothing
    assert shared_heads([(1, 2, 3, 4), (1, 2, 3, 4, 5)], 4) == {}  # every sequence keeps a token of its own


@pytest.mark.parametrize("arch", ARCHS)
def test_added_sequences_with_a_shared_prefix_equal_fresh_runs(arch):
    """Prompts of one template (shared leading words, then different entities) run the shared
    words once; every prompt's stored run equals its own fresh one."""
    engine = InterchangeEngine(make_model(arch))
    store = RunStore(engine, [SITE])
    template, other = _seqs([6], seed=5)[0], _seqs([5], seed=6)[0]
    tails = _seqs([2, 4, 1, 3], seed=7)
    prompts = [template + t for t in tails] + [other + tails[0], other + tails[1]] + _seqs([7], seed=8)
    store.add(prompts, chunk_size=3)
    assert all(p in store for p in prompts)
    assert store.computed_tokens < sum(map(len, prompts)) - len(template)  # the shared words ran once
    before = store.computed_tokens
    _assert_same(store.run(prompts), engine.run(TokenBatch.from_ids(prompts), sites=[SITE]), prompts, [SITE])
    assert store.computed_tokens == before
