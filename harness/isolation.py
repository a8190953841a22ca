"""Per-sample fault isolation: a sample whose evaluation raises fails alone.

When a batch raises, its samples are evaluated one at a time to find the failing ones; the
others keep their results and the task goes on.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any, Sequence

from harness.benchmark import Benchmark, Sample, SampleResult, TaskContext

log = logging.getLogger("harness")


def describe(err: BaseException) -> str:
    """``Type: message`` plus where it was raised (the innermost frame)."""
    text = "".join(traceback.format_exception_only(type(err), err)).strip()
    tb = traceback.extract_tb(err.__traceback__)
    return f"{text} (at {tb[-1].filename}:{tb[-1].lineno})" if tb else text


def check_results(chunk: Sequence[Sample], results: list[Any], task: str) -> None:
    got = [getattr(r, "sample_id", None) for r in results]
    if sorted(map(str, got)) != sorted(s.id for s in chunk):
        raise RuntimeError(f"task {task!r}: evaluate() returned results for {got[:5]}... instead of the batch's samples")


def evaluate_isolated(bench: Benchmark, model: Any, batch: Sequence[Sample],
                      ctx: TaskContext) -> tuple[list[SampleResult], dict[str, str]]:
    """Results of the samples that evaluated, and ``{sample_id: error}`` for those that raised."""
    if not batch:
        return [], {}
    try:
        results = list(bench.evaluate(model, batch, ctx))
        check_results(batch, results, ctx.task)
        return results, {}
    except Exception as err:  # noqa: BLE001 - narrowed down below
        if len(batch) == 1:
            log.warning("task %s: sample %s failed: %s", ctx.task, batch[0].id, describe(err))
            return [], {batch[0].id: describe(err)}
        log.warning("task %s: a batch of %d failed (%s); evaluating its samples one at a time",
                    ctx.task, len(batch), describe(err))
    results, failed = [], {}
    for sample in batch:
        got, bad = evaluate_isolated(bench, model, [sample], ctx)
        results.extend(got)
        failed.update(bad)
    return results, failed
