"""The harness's architecture, one hook at a time.

Every extension point is a pluggy hook declared here. Built-in plugins (``plugins/``)
implement these hooks exactly as a third-party package would, and are discovered through
the same entry-point group (:data:`ENTRY_POINT_GROUP`).

Registration hooks return lightweight *specs* (see :mod:`harness.registry`) whose
implementations are named by import string, so that listing plugins and tasks never
imports torch or a plugin's heavy modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:  # pragma: no cover - typing only
    import argparse
    from pathlib import Path

    from harness.registry import BenchmarkSpec, DecoderSpec, ModelSpec
    from harness.results import RunInfo, TaskResult
    from harness.viewer.blocks import Block

PROJECT_NAME = "harness"
ENTRY_POINT_GROUP = "harness.plugins"
#: Version of this hook API. A plugin states the version it needs with a module attribute
#: ``HARNESS_API_VERSION = "MAJOR.MINOR"``; a newer minor or another major is refused clearly.
API_VERSION = "1.0"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# --- Registration -----------------------------------------------------------------------


@hookspec
def harness_register_benchmarks() -> list[BenchmarkSpec]:
    """Benchmarks this plugin provides (each with its metrics' display names and direction)."""


@hookspec
def harness_register_models() -> list[ModelSpec]:
    """Model adapters this plugin provides (``--model NAME``)."""


@hookspec
def harness_register_decoders() -> list[DecoderSpec]:
    """Decoding strategies usable as ``decoding=NAME`` by any generation request."""


@hookspec
def harness_task_paths() -> list[Path]:
    """Folders of task YAML files this plugin ships (searched like ``--include-path``)."""


@hookspec
def harness_add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add CLI sub-commands; set ``func=`` on each parser (called with parsed args)."""


# --- Run lifecycle events ----------------------------------------------------------------


@hookspec
def harness_run_start(run: RunInfo) -> None:
    """A run is about to evaluate its tasks."""


@hookspec
def harness_task_start(run: RunInfo, task: str, n_samples: int, n_done: int) -> None:
    """A task starts; ``n_done`` samples were read back from an earlier run (resume)."""


@hookspec
def harness_batch_end(run: RunInfo, task: str, n_done: int, n_samples: int) -> None:
    """A batch of samples was evaluated and its sample lines flushed to disk."""


@hookspec
def harness_task_end(run: RunInfo, task: str, result: TaskResult) -> None:
    """A task's metrics are aggregated."""


@hookspec
def harness_run_end(run: RunInfo, results: dict[str, Any]) -> None:
    """The run's results document is written."""


# --- Viewing -------------------------------------------------------------------------------


@hookspec(firstresult=True)
def harness_view_sample(benchmark: str, task: str, record: dict[str, Any]) -> list[Block] | None:
    """How one logged sample of ``benchmark`` looks in ``harness view``.

    ``record`` is the sample's JSON line as written to ``samples_*.jsonl`` (``sample_id``,
    ``doc``, ``values``, ``log``, perhaps ``error``), from any harness version: read it with
    ``.get`` and expect fields to be missing. Return a list of blocks from
    :mod:`harness.viewer.blocks` (plain data, never HTML: the page escapes everything), or
    ``None`` for a benchmark that is not yours. The first answer wins; without one the viewer
    shows a generic view (values, document, log), and it always adds the raw record below.
    Keep the implementation light (no torch): the viewer calls it for every sample it shows.
    """
