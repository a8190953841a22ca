"""The contract between a benchmark plugin and the runner.

A benchmark turns its task arguments into :class:`Sample` units of work, evaluates a batch
of them on a model, and aggregates the per-sample results into metrics. The runner owns
everything around that: batching, per-sample logs, resume, progress and the results file.
A "sample" is whatever unit is worth logging and resuming: a question, an edited case, or a
(method, layer, position) cell of an intervention sweep.
"""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from harness.models.base import ModelAdapter
    from harness.registry import Registry


@dataclass
class Sample:
    """One unit of work. ``id`` must be stable across runs (resume matches on it)."""

    id: str
    doc: dict[str, Any]
    prompt: str = ""  # the text the model sees, when there is one (its hash is logged)


@dataclass
class SampleResult:
    """What one sample produced. ``values`` feed :meth:`Benchmark.aggregate`; ``log`` is kept for readers."""

    sample_id: str
    values: dict[str, Any]
    log: dict[str, Any] = field(default_factory=dict)


@dataclass
class TaskResult:
    """Aggregated metrics of one task; ``details`` holds structured extras (e.g. a layer grid)."""

    metrics: dict[str, float]
    stderr: dict[str, float] = field(default_factory=dict)
    n_samples: int = 0
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class TaskContext:
    """What a benchmark may know about the run it is part of."""

    task: str
    seed: int = 1234
    limit: int | None = None
    cache_dir: Path | None = None  # per-model scratch space for instances worth caching
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("harness"))
    status: str = ""  # what a long evaluate() last reported; shown by the runner's heartbeat
    registry: Registry | None = None  # what the loaded plugins registered (featurizers, decoders, ...)

    def report(self, text: str) -> None:
        """Say where a long sample is (e.g. ``"layer 3/12"``); the runner shows it while waiting."""
        self.status = str(text)

    def rng(self, salt: str = "") -> random.Random:
        """A seeded ``random.Random`` private to this task (and ``salt``)."""
        return random.Random(f"{self.seed}:{self.task}:{salt}")


class Benchmark:
    """Base class of benchmark implementations.

    Subclasses take the task YAML's ``args`` as keyword arguments in ``__init__`` (an unknown
    argument is reported against the YAML file), and implement :meth:`samples`,
    :meth:`evaluate` and :meth:`aggregate`.
    """

    #: Samples handed to one :meth:`evaluate` call; sample lines are flushed after each call.
    #: (Not the model batch: that is the adapter's ``--batch-size``, applied inside evaluate.)
    samples_per_call: ClassVar[int] = 32
    #: False for benchmarks that never touch a model (the runner then loads none for them).
    needs_model: ClassVar[bool] = True
    #: What the benchmark asks of its adapter; the runner refuses the task, before loading any
    #: data, when the adapter does not declare all of them (see harness.whitebox.capabilities).
    requires: ClassVar[frozenset] = frozenset()

    def samples(self, model: ModelAdapter | None, ctx: TaskContext) -> Sequence[Sample]:
        raise NotImplementedError

    def evaluate(self, model: ModelAdapter | None, samples: Sequence[Sample], ctx: TaskContext) -> list[SampleResult]:
        raise NotImplementedError

    def aggregate(self, results: Sequence[SampleResult], ctx: TaskContext) -> TaskResult:
        raise NotImplementedError


def mean_and_stderr(values: Sequence[float]) -> tuple[float, float]:
    """Sample mean and its standard error (sample std / sqrt(n)); NaN stderr for n < 2."""
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    mean = math.fsum(values) / n
    if n < 2:
        return mean, math.nan
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(var / n)


def mean_metrics(results: Sequence[SampleResult], keys: Sequence[str]) -> TaskResult:
    """Aggregate by averaging each of ``keys`` over samples, with standard errors."""
    metrics, stderr = {}, {}
    for key in keys:
        vals = [float(r.values[key]) for r in results if r.values.get(key) is not None]
        metrics[key], stderr[key] = mean_and_stderr(vals)
    return TaskResult(metrics=metrics, stderr=stderr, n_samples=len(results))
