"""Hook implementations: what this plugin adds to the harness. Keep this module light."""

from pathlib import Path

from harness.hookspecs import hookimpl
from harness.registry import BenchmarkSpec, MetricSpec

__version__ = "0.2.0"
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
