"""Out-of-memory back-off: the failed batch is halved and retried; nothing lost or scored twice."""

import torch

from harness.models.base import GenerationRequest as G
from harness.models.base import LoglikelihoodRequest as L
from harness.models.batching import BatchSizer, run_batched
from harness.testing import tiny_adapter


class OOMAbove:
    """Wraps a model's forward to raise CUDA's OOM error when a batch has more than ``limit`` rows.

    CPUs do not raise OOM errors, so this is the one place where the failure is simulated; the real
    model still computes every result."""

    def __init__(self, model, limit):
        self.model, self.limit, self.calls, self.rows = model, limit, 0, 0
        self.orig = model.forward

    def __call__(self, *args, **kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        self.calls += 1
        if ids.shape[0] > self.limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        self.rows += ids.shape[0]
        return self.orig(*args, **kwargs)


def test_oom_halves_and_retries_scoring():
    reqs = [L(f"Context number {i} says", f" answer {j}") for i in range(5) for j in range(3)] + [L(f"alone {i}", " x") for i in range(6)]
    ref = tiny_adapter("llama", batch_size=1).loglikelihood(reqs)
    adapter = tiny_adapter("llama", batch_size=16)
    adapter.model.forward = OOMAbove(adapter.model, limit=3)
    base = adapter.model.base_model
    base.forward = OOMAbove(base, limit=3)
    got = adapter.loglikelihood(reqs)
    assert adapter.sizer.size() <= 3
    assert [round(r.logprob, 4) for r in got] == [round(r.logprob, 4) for r in ref]


def test_oom_halves_and_retries_generation():
    prompts = [f"Story {i}:" for i in range(7)]
    ref = [g.text for g in tiny_adapter("llama", batch_size=1).generate([G(p, max_new_tokens=5) for p in prompts])]
    adapter = tiny_adapter("llama", batch_size=8)
    adapter.model.forward = OOMAbove(adapter.model, limit=2)
    assert [g.text for g in adapter.generate([G(p, max_new_tokens=5) for p in prompts])] == ref
    assert adapter.sizer.size() == 2


def test_run_batched_never_loses_or_repeats_items():
    seen = []

    class Sizer(BatchSizer):
        def __init__(self):
            self._size = 8

    def fn(batch):
        if len(batch) > 2:
            raise RuntimeError("CUDA out of memory. Tried to allocate")
        seen.extend(batch)
        return [x * 10 for x in batch]

    assert run_batched(list(range(11)), Sizer(), fn) == [x * 10 for x in range(11)]
    assert seen == list(range(11))


def test_auto_batch_size_on_cpu_is_a_fixed_default():
    adapter = tiny_adapter("llama", batch_size="auto")
    assert adapter.sizer.size() == 16
