"""RAVEL (Huang, Wu, Potts, Geva & Geiger, ACL 2024): can a method isolate one attribute of an
entity (a city's country) from the others (its continent, language)?

Registers the ``ravel`` benchmark (its task files live in the built-in ``tasks/ravel/``). Nothing heavy is imported here:
``harness list`` stays torch-free; the implementation lives in :mod:`harness_plugins.ravel.benchmark`.
"""

from __future__ import annotations

from harness.hookspecs import hookimpl
from harness.registry import BenchmarkSpec, MetricSpec, PlotSpec
from harness_plugins.ravel.view import harness_view_sample  # noqa: F401 - how its samples look in harness view

HARNESS_API_VERSION = "2.0"
__version__ = "0.1.0"

METHOD_NAMES = ("pca", "sae", "rlap", "dbm", "mdbm", "das", "mdas", "full")
_DESCRIPTIONS = {
    "cause": "fraction of target-attribute examples whose output becomes the source entity's value (mean over templates)",
    "isolate": "fraction of other-attribute examples whose output is unchanged (mean over templates, then attributes)",
    "disentangle": "(Cause + Isolate) / 2",
}
_DISPLAY = {"cause": "Cause", "isolate": "Isolate", "disentangle": "Disentangle"}


def _metrics() -> tuple[MetricSpec, ...]:
    specs = [MetricSpec(m, _DISPLAY[m], True, _DESCRIPTIONS[m] + " (primary method, MDAS by default)") for m in _DISPLAY]
    for method in METHOD_NAMES:
        specs += [MetricSpec(f"{method}/{m}", f"{_DISPLAY[m]} ({method.upper()})", True, _DESCRIPTIONS[m]) for m in _DISPLAY]
    return tuple(specs)


@hookimpl
def harness_register_benchmarks() -> list[BenchmarkSpec]:
    return [
        BenchmarkSpec(
            name="ravel",
            implementation="harness_plugins.ravel.benchmark:RavelBenchmark",
            description="RAVEL: Cause / Isolate / Disentangle of PCA, SAE, RLAP, DBM, DAS, MDAS (or your own) features of entity attributes",
            metrics=_metrics(),
        )
    ]



@hookimpl
def harness_leaderboard_plots() -> list[PlotSpec]:
    """Leaderboard figures for this plugin's benchmarks (matplotlib is imported when they draw)."""
    return [
        PlotSpec("cause_vs_isolate", "harness_plugins.ravel.plots:cause_vs_isolate", title="RAVEL Cause vs Isolate"),
    ]


@hookimpl
def harness_task_paths() -> list:
    from harness_tasks import task_dir

    return [task_dir("ravel")]
