"""The white-box layer's contracts that the conformance suite does not cover: accelerate hooks
survive the engine's block skipping, every chunked forward honours the model batch size, and the
runner refuses a task its adapter cannot serve before loading any data."""

from __future__ import annotations

import pytest
import torch

from harness.interventions import TokenBatch, vanilla
from harness.models.base import GenerationRequest, GenerationResult, LoglikelihoodResult, ModelAdapter
from harness.testing import tiny_adapter

TEXTS = ["The cat sat on the mat today", "A dog ran", "Paris is the capital of France", "Hi", "One two three four five six", "Seven", "Eight nine ten"]


def test_block_skipping_keeps_accelerate_hooks_and_results():
    """The engine's partial re-run must not replace a block's forward (accelerate wraps it)."""
    from accelerate.hooks import ModelHook, add_hook_to_module

    class Count(ModelHook):
        def __init__(self):
            self.calls = 0

        def pre_forward(self, module, *args, **kwargs):
            self.calls += 1
            return args, kwargs

    adapter = tiny_adapter("llama", batch_size=8)
    blocks = adapter.layout.blocks
    hooks = [Count() for _ in blocks]
    for block, hook in zip(blocks, hooks):
        add_hook_to_module(block, hook)
    wrapped = [block.forward for block in blocks]
    engine = adapter.interchange_engine()
    ids = [adapter.tok_encode(t) for t in TEXTS[:4]]
    base, src = engine.run(TokenBatch.from_ids(ids, adapter.pad_token_id)), engine.run(TokenBatch.from_ids(ids[::-1], adapter.pad_token_id))
    calls_before = [h.calls for h in hooks]
    fast = engine.intervene(base, 2, [0] * 4, src.at(2, [0] * 4), vanilla)
    assert [h.calls - c for h, c in zip(hooks, calls_before)] == [0, 0, 1]  # only the block above site 2 ran
    assert [block.forward for block in blocks] == wrapped and all(hasattr(b, "_hf_hook") for b in blocks)
    assert adapter.layout.base.layers is blocks  # the container is back
    slow = engine.intervene_full(TokenBatch.from_ids(ids, adapter.pad_token_id), TokenBatch.from_ids(ids[::-1], adapter.pad_token_id),
                                 2, [0] * 4, [0] * 4, vanilla)
    torch.testing.assert_close(fast, slow, atol=1e-4, rtol=0)
    assert all(h.calls > c for h, c in zip(hooks, calls_before))  # the full forward went through every hook


def _batch_rows(adapter):
    """Record the number of rows of every forward through block 0."""
    rows: list[int] = []
    handle = adapter.layout.blocks[0].register_forward_pre_hook(
        lambda m, args, kwargs: rows.append((args[0] if args else kwargs["hidden_states"]).shape[0]), with_kwargs=True)
    return rows, handle


@pytest.mark.parametrize("batch_size", [2, 3])
def test_every_chunked_forward_honours_the_model_batch_size(batch_size):
    from harness_plugins.activation_decoding.mc_scorer import MCScorer
    from harness_plugins.activation_decoding.settings import MethodSetting
    from harness_plugins.ravel.runner import RavelRunner

    adapter = tiny_adapter("llama", batch_size=batch_size)
    rows, handle = _batch_rows(adapter)
    try:
        adapter.interchange_engine().run(TokenBatch.from_ids([adapter.tok_encode(t) for t in TEXTS], adapter.pad_token_id))
        assert max(rows) == batch_size and sum(rows) == len(TEXTS)
        rows.clear()
        runner = RavelRunner(adapter, site=1, max_new_tokens=2)  # its own preference (32) yields to an explicit size
        runner.complete(TEXTS)
        assert max(rows) <= batch_size
        rows.clear()
        MCScorer(adapter, [MethodSetting.parse("greedy")], use_prefix_cache=False).score("Q: Which?\nA:", ["one", "two", "three", "four", "five"])
        assert max(rows) <= batch_size and len(rows) >= 2
        rows.clear()
        adapter.generate([GenerationRequest(t, max_new_tokens=2) for t in TEXTS])
        assert max(rows) <= batch_size
    finally:
        handle.remove()


def test_auto_on_cpu_keeps_each_callers_preferred_batch():
    adapter = tiny_adapter("llama", batch_size="auto")
    rows, handle = _batch_rows(adapter)
    try:
        adapter.interchange_engine().run(TokenBatch.from_ids([adapter.tok_encode(t) for t in TEXTS], adapter.pad_token_id), chunk_size=4)
    finally:
        handle.remove()
    assert rows == [4, 3]


class TextOnly(ModelAdapter):
    """A black-box backend (like an API model): scoring and generation, no states."""

    name = "text-only"

    def loglikelihood(self, requests):
        return [LoglikelihoodResult(logprob=-1.0, is_greedy=False) for _ in requests]

    def generate(self, requests):
        return [GenerationResult(text="x", finish_reason="length", n_tokens=1) for _ in requests]

    def fingerprint(self):
        return "text-only"


def test_runner_refuses_a_task_the_adapter_cannot_serve_before_loading_data(tmp_path):
    from harness.runner import RunConfig, run

    data = tmp_path / "broken_ravel"
    data.mkdir()
    for part in ("entity_attributes", "attribute_to_prompts", "prompt_to_split", "entity_to_split"):
        (data / f"ravel_city_{part}.json").write_text("{not json: the data must never be read")
    task = tmp_path / "ravel_missing_data.yaml"
    task.write_text(f"task: ravel_missing_data\nbenchmark: ravel\nargs: {{data_path: {data}}}\n")
    doc = run(RunConfig(tasks=["ravel_missing_data", "activation_decoding_truthfulqa_sample"], include_paths=[tmp_path], progress=False),
              adapter=TextOnly())
    for name in ("ravel_missing_data", "activation_decoding_truthfulqa_sample"):
        err = doc["errors"][name]
        assert "MissingCapability" in err and "site_read" in err and "text-only" in err, err
        assert "json" not in err.lower()  # refused before the (broken) data was read
    assert doc["results"] == {}


@pytest.mark.parametrize("arch", ["llama", "gpt2", "gemma3"])
def test_full_forward_engine_equals_the_cached_engine(arch):
    """``cached_rerun=false`` swaps in the engine other backends use; both give the same numbers."""
    from harness.interventions import generate_with_intervention
    from harness.interventions.forward_engine import ForwardEngine
    from harness.interventions.engine import InterchangeEngine

    cached_ad, full_ad = tiny_adapter(arch, batch_size=4), tiny_adapter(arch, batch_size=4, cached_rerun=False)
    cached, full = cached_ad.interchange_engine(), full_ad.interchange_engine()
    assert isinstance(cached, InterchangeEngine) and isinstance(full, ForwardEngine)
    ids = [cached_ad.tok_encode(t) for t in TEXTS[:4]]
    runs = {}
    for name, engine in (("cached", cached), ("full", full)):
        base = engine.run(TokenBatch.from_ids(ids, cached_ad.pad_token_id))
        src = engine.run(TokenBatch.from_ids(ids[::-1], cached_ad.pad_token_id))
        runs[name] = (engine.clean_logits(base), engine.intervene(base, 1, [0] * 4, src.at(1, [0] * 4), vanilla),
                      generate_with_intervention(engine, base, 1, [0] * 4, src.at(1, [0] * 4), vanilla, max_new_tokens=4).tokens)
    for a, b in zip(runs["cached"][:2], runs["full"][:2]):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)
    assert torch.equal(runs["cached"][2], runs["full"][2])


def test_the_decode_loop_reports_its_progress_to_the_heartbeat():
    """A long generation says where it is (a MeLLo case no longer sits silent for minutes)."""
    from harness.progress import Heartbeat, activity, current_activity

    adapter = tiny_adapter("llama", batch_size=2)
    lines: list[str] = []
    activity("")
    with Heartbeat("task", current_activity, interval=0.05, write=lines.append):
        adapter.generate([GenerationRequest("Once upon a time", max_new_tokens=120), GenerationRequest("Hi", max_new_tokens=120)])
    assert any("generating: token" in line and "2 rows" in line for line in lines), lines[:3]
    assert current_activity().startswith("generating: token")


def test_intervention_training_reports_its_steps():
    from harness.interventions import CachedProblem, RotatedSubspace, TrainConfig, train
    from harness.progress import current_activity

    adapter = tiny_adapter("llama", batch_size=4)
    engine = adapter.interchange_engine()
    ids = [adapter.tok_encode(t) for t in TEXTS]
    run = engine.run(TokenBatch.from_ids(ids, adapter.pad_token_id))
    problem = CachedProblem.build(engine, run, run, 1, [0] * len(ids), [0] * len(ids), targets=[5] * len(ids))
    train(problem, RotatedSubspace(adapter.hidden_size, rank=1, seed=0), TrainConfig(lr=1e-2, batch_size=2, epochs=1))
    assert current_activity() == "training RotatedSubspace: step 4/4"


@pytest.mark.parametrize("arch", ["llama", "gemma3"])
def test_per_row_token_limits_give_the_prefixes_of_a_full_run(arch):
    """Rows with their own budgets stop (and leave the batch) early, with the same first tokens
    as when every row runs to the longest budget; EOS ends a row as before."""
    from harness.interventions import generate_with_intervention

    adapter = tiny_adapter(arch, batch_size=8)
    engine = adapter.interchange_engine()
    ids = [adapter.tok_encode(t) for t in TEXTS[:5]]
    base = engine.run(TokenBatch.from_ids(ids, adapter.pad_token_id))
    src = engine.run(TokenBatch.from_ids(ids[::-1], adapter.pad_token_id))
    args = (engine, base, 1, [0] * 5, src.at(1, [0] * 5), vanilla)
    full = generate_with_intervention(*args, max_new_tokens=6).tokens.tolist()
    limits = [1, 6, 2, 3, 1]
    short = generate_with_intervention(*args, max_new_tokens=limits, keep_logits=False)
    assert short.rows == [row[:n] for row, n in zip(full, limits)]
    assert short.finish == ["length"] * 5
    stop = full[1][2]  # a token row 1 produces: with it as EOS, that row ends where it first comes
    first = full[1].index(stop)
    ended = generate_with_intervention(*args, max_new_tokens=limits, eos={stop}, keep_logits=False)
    assert ended.rows[1] == full[1][: first + 1] and ended.finish[1] == "eos"
    with pytest.raises(ValueError, match="at least 1"):
        generate_with_intervention(*args, max_new_tokens=[0, 1, 1, 1, 1], keep_logits=False)


def test_batches_by_length_come_back_in_the_callers_order():
    from harness.models.batching import BatchSizer, run_batched_by_length

    seen: list[list[str]] = []

    def fn(batch):
        seen.append(list(batch))
        return [s.upper() for s in batch]

    items = ["a", "bbbb", "cc", "ddddd", "e", "fff"]
    out = run_batched_by_length(items, BatchSizer(None, 2, 2), fn, len)  # type: ignore[arg-type]
    assert out == [s.upper() for s in items]
    assert seen == [["ddddd", "bbbb"], ["fff", "cc"], ["a", "e"]]  # longest first, similar lengths together
