"""CausalGym plugin: which interpretability method finds the direction that causally controls a
linguistic behaviour (Arora, Jurafsky & Potts, ACL 2024).

Registration only; nothing heavy is imported here (``harness list`` must not import torch).
The benchmark lives in :mod:`harness_plugins.causalgym.benchmark`, the shared interchange engine in
:mod:`harness.interventions`.
"""

from __future__ import annotations

from harness.hookspecs import hookimpl
from harness.registry import BenchmarkSpec, MetricSpec, PlotSpec
from harness_plugins.causalgym.view import harness_view_sample  # noqa: F401 - how its samples look in harness view

HARNESS_API_VERSION = "2.0"
__version__ = "0.1.0"

METHODS = {
    "das": "DAS",
    "probe": "probe",
    "mean": "mean diff.",
    "pca": "PCA",
    "kmeans": "k-means",
    "lda": "LDA",
    "random": "random",
}


def _metrics() -> tuple[MetricSpec, ...]:
    specs = []
    for key, label in METHODS.items():
        specs.append(MetricSpec(f"logodds_{key}", f"Log-odds ({label})", True,
                                f"{label}: intervention log-odds effect, max over positions, mean over layers and tasks"))
    for key, label in METHODS.items():
        specs.append(MetricSpec(f"iia_{key}", f"IIA ({label})", True,
                                f"{label}: interchange-intervention accuracy, max over positions, mean over layers and tasks"))
    for key, label in METHODS.items():
        specs.append(MetricSpec(f"selectivity_{key}", f"Selectivity ({label})", True,
                                f"{label}: the paper's rule, log-odds minus log-odds on the control task (labels ' dog'/' give')"))
    for key, label in METHODS.items():
        specs.append(MetricSpec(f"selectivity_abs_{key}", f"Selectivity, sign-free ({label})", True,
                                f"{label}: log-odds minus |log-odds on the control task| (never above the effect; see docs/plugins/causalgym.md)"))
    specs.append(MetricSpec("task_accuracy", "Model task acc.", True,
                            "how often the model itself prefers the right label (bases and sources of the eval pairs)"))
    return tuple(specs)


@hookimpl
def harness_register_benchmarks() -> list[BenchmarkSpec]:
    return [
        BenchmarkSpec(
            name="causalgym",
            implementation="harness_plugins.causalgym.benchmark:CausalGymBenchmark",
            description="CausalGym: interchange interventions along directions found by DAS, probes, mean difference, "
                        "PCA, k-means, LDA and random, per layer and token position",
            metrics=_metrics(),
        )
    ]


@hookimpl
def harness_leaderboard_plots() -> list[PlotSpec]:
    """Leaderboard figures for this plugin's benchmarks (matplotlib is imported when they draw)."""
    return [
        PlotSpec("log_odds_per_layer", "harness_plugins.causalgym.plots:layer_curves", title="CausalGym log-odds per layer"),
    ]


@hookimpl
def harness_task_paths() -> list:
    from harness_tasks import task_dir

    return [task_dir("causalgym")]
