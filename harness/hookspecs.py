"""The harness's architecture, one hook at a time: this module is the table of contents.

Every extension point is a pluggy hook declared here. Built-in plugins (``plugins/``) and the
core's own built-in modules (:data:`harness.pluginmanager.CORE_PLUGINS`: the ``run``/``list``/
``plugins`` commands, ``bench``, ``leaderboard``, the generic featurizers) implement these hooks
exactly as a third-party package would. Third-party plugins are discovered through the
entry-point group :data:`ENTRY_POINT_GROUP`.

Registration hooks return lightweight *specs* (see :mod:`harness.registry`) whose
implementations are named by import string, so that listing plugins and tasks never imports
torch or a plugin's heavy modules. The plugin manager collects them once into a
:class:`~harness.registry.Registry`, which is passed down explicitly (runner → task context,
adapter, leaderboard); nothing is looked up through module globals.

Registration and lifecycle hooks are answered by *all* plugins (registrations add up, events
are heard by everyone); the one question with a single answer, how a sample looks in the viewer
(``harness_view_sample``), is ``firstresult``: the benchmark's own plugin answers, the others
return ``None``. No hook is ``historic``: plugins are loaded before any hook is called, so no
late registration needs a replay. The harness calls each implementation on its
own, so one plugin's failure is reported with its name and the others keep working.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:  # pragma: no cover - typing only
    import argparse
    from pathlib import Path

    from harness.benchmark import TaskResult
    from harness.registry import BenchmarkSpec, DecoderSpec, FeaturizerSpec, ModelSpec, PlotSpec
    from harness.results import RunInfo
    from harness.viewer.blocks import Block

PROJECT_NAME = "harness"
ENTRY_POINT_GROUP = "harness.plugins"
#: Version of this hook API. A plugin states the version it needs with a module attribute
#: ``HARNESS_API_VERSION = "MAJOR.MINOR"``; a newer minor or another major is refused clearly.
#: 2.0: every command function is ``func(args, pm)``; added ``harness_register_featurizers`` and
#: ``harness_leaderboard_plots``.
API_VERSION = "2.0"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# --- Registration: called once per process, when the plugin manager builds its Registry ----
# pluggy never calls a spec's body; ``return []`` states what a plugin without the hook adds.


@hookspec
def harness_register_benchmarks() -> list[BenchmarkSpec]:
    """Called when the registry is built (``harness list``, ``run``, ``leaderboard``).

    Returns the benchmarks this plugin provides, each with its metrics' display names and
    direction; task YAML files name one with ``benchmark: NAME``."""
    return []


@hookspec
def harness_register_models() -> list[ModelSpec]:
    """Called when the registry is built. Returns the model adapters this plugin provides
    (``--model NAME``); an adapter is built only when a run needs it."""
    return []


@hookspec
def harness_register_decoders() -> list[DecoderSpec]:
    """Called when the registry is built. Returns decoding strategies usable as
    ``decoding=NAME,k=v`` by any generation request; the runner hands the registry's decoders
    to the adapter it loads (:meth:`harness.models.base.ModelAdapter.use_decoders`)."""
    return []


@hookspec
def harness_register_featurizers() -> list[FeaturizerSpec]:
    """Called when the registry is built. Returns featurizers (estimators of the direction an
    interchange intervention swaps) that benchmarks look up by name through
    ``ctx.registry`` (:func:`harness.interventions.featurizers.make_featurizer`)."""
    return []


@hookspec
def harness_leaderboard_plots() -> list[PlotSpec]:
    """Called when a leaderboard is built with plots. Returns plot kinds; each draws one figure
    from the leaderboard entries of the benchmarks it names (by default, every benchmark its
    plugin registers). Plot code imports matplotlib itself, when it draws."""
    return []


@hookspec
def harness_task_paths() -> list[Path]:
    """Called when tasks are indexed. Returns folders of task YAML files this plugin ships
    (searched like ``--include-path``, built-in folders first)."""
    return []


@hookspec
def harness_add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Called once when the CLI builds its parser. Adds sub-commands to ``subparsers``; each
    parser sets ``func=``, called as ``func(args, pm)`` (parsed arguments, plugin manager) and
    returning the exit status. Built-in commands are added the same way."""


# --- Run lifecycle events: called by the runner, in this order; return values are ignored --


@hookspec
def harness_run_start(run: RunInfo) -> None:
    """Called once, after the model is loaded and before the first task is evaluated."""


@hookspec
def harness_task_start(run: RunInfo, task: str, n_samples: int, n_done: int) -> None:
    """Called when a task starts; ``n_done`` samples were read back from an earlier run (resume)."""


@hookspec
def harness_batch_end(run: RunInfo, task: str, n_done: int, n_samples: int) -> None:
    """Called after each batch of samples is evaluated and its sample lines flushed to disk."""


@hookspec
def harness_task_end(run: RunInfo, task: str, result: TaskResult) -> None:
    """Called when a task's metrics are aggregated (``result`` as the benchmark returned it)."""


@hookspec
def harness_run_end(run: RunInfo, results: dict[str, Any]) -> None:
    """Called once, after the run's results document is written (``results`` is that document)."""


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
