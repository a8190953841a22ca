"""Hook implementations: what this plugin adds to the harness. Keep this module light.

One of each extension point: a benchmark with its tasks, a leaderboard plot, a featurizer, a
decoding strategy and a command."""

from pathlib import Path

from harness.hookspecs import hookimpl
from harness.registry import BenchmarkSpec, DecoderSpec, FeaturizerSpec, MetricSpec, PlotSpec

__version__ = "0.3.0"
HARNESS_API_VERSION = "2.0"  # the hook API this plugin was written for


@hookimpl
def harness_register_benchmarks():
    return [BenchmarkSpec(
        name="arith_mc",
        implementation="harness_example_plugin.benchmark:ArithmeticMC",
        description="Pick the right sum among three candidates",
        metrics=(MetricSpec("acc", "Accuracy", higher_is_better=True),),
    )]


@hookimpl
def harness_task_paths():
    return [Path(__file__).parent / "tasks"]


@hookimpl
def harness_leaderboard_plots():  # drawn for this plugin's benchmarks (arith_mc)
    return [PlotSpec("accuracy", "harness_example_plugin.plot:accuracy_bars", title="Arithmetic accuracy")]


@hookimpl
def harness_register_featurizers():  # make_featurizer("median", ctx.registry)
    return [FeaturizerSpec("median", "harness_example_plugin.featurizer:MedianDifference", "difference of the class medians")]


@hookimpl
def harness_register_decoders():  # decoding=no_repeat[,window=N]
    return [DecoderSpec("no_repeat", "harness_example_plugin.decoder:no_repeat", "greedy without repeating a token; window=")]


@hookimpl
def harness_add_commands(subparsers):  # harness arith-show
    from harness_example_plugin.command import add

    add(subparsers)
