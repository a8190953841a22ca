"""Activation decoding (Chen et al., ICML 2024, "In-Context Sharpness as Alerts").

Registers two benchmarks (TruthfulQA multiple choice and open-domain QA generation) and three
decoding strategies usable by any generation request: ``activation``, ``dola`` and
``activation_dola``. Nothing heavy is imported here: ``harness list`` stays torch-free.
"""

from __future__ import annotations

from harness.hookspecs import hookimpl
from harness.registry import BenchmarkSpec, DecoderSpec, MetricSpec, PlotSpec
from harness_plugins.activation_decoding.view import harness_view_sample  # noqa: F401 - how its samples look in harness view

HARNESS_API_VERSION = "2.0"
__version__ = "0.1.0"

_PKG = "harness_plugins.activation_decoding"


@hookimpl
def harness_register_benchmarks() -> list[BenchmarkSpec]:
    return [
        BenchmarkSpec(
            name="activation_decoding_truthfulqa_mc",
            implementation=f"{_PKG}.benchmarks:TruthfulQAMC",
            description="TruthfulQA MC1/MC2/MC3 scored by log p - alpha * in-context entropy (greedy, DoLa, activation, activation+DoLa)",
            metrics=(
                MetricSpec("mc1", "MC1", True, "best correct answer scores above every incorrect one"),
                MetricSpec("mc2", "MC2", True, "normalised probability mass on the correct answers"),
                MetricSpec("mc3", "MC3", True, "fraction of correct answers above the best incorrect one"),
            ),
        ),
        BenchmarkSpec(
            name="activation_decoding_truthfulqa_binary",
            implementation=f"{_PKG}.benchmarks:TruthfulQABinary",
            description="TruthfulQA binary choice (2025 format): best answer vs best incorrect answer, per scoring setting",
            metrics=(MetricSpec("binary", "Binary accuracy", True, "best answer scores above the best incorrect one (tie = 0.5)"),),
        ),
        BenchmarkSpec(
            name="activation_decoding_openqa",
            implementation=f"{_PKG}.benchmarks:OpenQAGeneration",
            description="Open-domain QA (TriviaQA / NQ-open / HotpotQA formats), 2-shot, lenient exact match per decoding",
            metrics=(MetricSpec("em", "Lenient EM", True, "normalised prediction equals, contains or is contained in a gold alias"),),
        ),
    ]


@hookimpl
def harness_register_decoders() -> list[DecoderSpec]:
    return [
        DecoderSpec("activation", f"{_PKG}.decoders:activation", "log p(v) - alpha * E(v) over the relative-top set; alpha=, info_layer=, [final_norm, recompute, relative_top]"),
        DecoderSpec("dola", f"{_PKG}.decoders:dola", "DoLa: final vs JSD-chosen premature layer; layers=low|high|0+2+4, [relative_top]"),
        DecoderSpec("activation_dola", f"{_PKG}.decoders:activation_dola", "DoLa score - alpha * E(v); alpha=, info_layer=, layers="),
    ]


@hookimpl
def harness_leaderboard_plots() -> list[PlotSpec]:
    """Leaderboard figures for this plugin's benchmarks (matplotlib is imported when they draw)."""
    return [
        PlotSpec("alpha_sweep", f"{_PKG}.plots:alpha_sweep", title="Activation decoding α sweep"),
    ]


@hookimpl
def harness_task_paths() -> list:
    from harness_tasks import task_dir

    return [task_dir("activation_decoding")]
