"""LLM-usage estimation (Liang et al. 2024): what fraction of a corpus's sentences an LLM wrote
or substantially modified, by a corpus-level maximum-likelihood mixture of word-occurrence
distributions fitted on human and AI reference corpora.

Registers the ``llm_usage`` benchmark (validation error on mixtures with known AI fraction, or
alpha-hat per time period in its per-group mode)
and the ``harness llm-usage`` command group (fit / estimate / validate / generate). Only
light imports here: the estimator modules load when a command or task runs.

Deviations from the paper's code (also on its docs page, docs/plugins/llm_usage.md): the sentence splitter is our
own rule-based one (the paper shipped pre-split sentences); the bounded optimiser is a
safeguarded Newton iteration instead of L-BFGS-B (same maximiser, tighter convergence);
and an optional, documented bias correction (cross-fitted calibration) is reported next to
the plain estimate, never instead of it.
"""

from __future__ import annotations

from harness.hookspecs import hookimpl
from harness.registry import BenchmarkSpec, MetricSpec, PlotSpec
from harness_plugins.llm_usage.view import harness_view_sample  # noqa: F401 - how its samples look in harness view

HARNESS_API_VERSION = "2.0"
__version__ = "0.1.0"


@hookimpl
def harness_register_benchmarks() -> list[BenchmarkSpec]:
    return [
        BenchmarkSpec(
            name="llm_usage",
            implementation="harness_plugins.llm_usage.benchmark:LLMUsageValidation",
            description="Liang et al. 2024 distributional LLM-usage estimate: alpha-hat error on mixtures with known AI fraction",
            metrics=(
                MetricSpec("mae", "alpha MAE", higher_is_better=False, description="mean |alpha-hat - alpha| over the mixtures (plain estimate)"),
                MetricSpec("mae_corrected", "alpha MAE (calibrated)", higher_is_better=False, description="the same after the cross-fitted bias correction"),
                MetricSpec("max_abs_error", "max |error|", higher_is_better=False),
                MetricSpec("max_abs_error_corrected", "max |error| (calibrated)", higher_is_better=False),
                MetricSpec("coverage", "95% CI coverage", higher_is_better=True, description="share of mixtures whose bootstrap interval holds the true alpha"),
                MetricSpec("coverage_corrected", "95% CI coverage (calibrated)", higher_is_better=True,
                           description="the same for the corrected interval (bootstrap that refits the calibration)"),
                MetricSpec("width", "95% CI mean width", higher_is_better=False, description="mean width of the plain intervals"),
                MetricSpec("width_corrected", "95% CI mean width (calibrated)", higher_is_better=False),
                MetricSpec("bias_at_zero", "alpha-hat at alpha=0", higher_is_better=False, description="plain estimate on the all-human mixture"),
                # Per-group mode (``estimate:``): an estimate, not a score; lower = less LLM-like text.
                MetricSpec("mean_alpha", "mean alpha-hat over groups", higher_is_better=False, description="mean of the per-group estimates (per-group mode)"),
                MetricSpec("max_alpha", "max alpha-hat over groups", higher_is_better=False, description="largest per-group estimate (per-group mode)"),
                MetricSpec("mean_alpha_corrected", "mean alpha-hat (calibrated)", higher_is_better=False, description="mean of the calibrated per-group estimates"),
            ),
        )
    ]


@hookimpl
def harness_add_commands(subparsers) -> None:  # noqa: ANN001 - argparse's private type
    from harness_plugins.llm_usage.cli import add_commands

    add_commands(subparsers)


@hookimpl
def harness_leaderboard_plots() -> list[PlotSpec]:
    """Leaderboard figures for this plugin's benchmarks (matplotlib is imported when they draw)."""
    return [
        PlotSpec("estimate_vs_true_alpha", "harness_plugins.llm_usage.plots:validation", title="LLM-usage estimate vs true α"),
        PlotSpec("alpha_per_group", "harness_plugins.llm_usage.plots:groups", title="LLM-usage α̂ per group"),
    ]


@hookimpl
def harness_task_paths() -> list:
    from harness_tasks import task_dir

    return [task_dir("llm_usage")]
