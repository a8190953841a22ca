"""Registers the lm-eval bridge: the ``lm_eval`` benchmark and the ``harness lm-eval`` command."""

from __future__ import annotations

import argparse
import sys

from harness.hookspecs import hookimpl
from harness.registry import BenchmarkSpec

__version__ = "0.1.0"
HARNESS_API_VERSION = "2.0"


@hookimpl
def harness_register_benchmarks() -> list[BenchmarkSpec]:
    return [BenchmarkSpec(
        name="lm_eval",
        implementation="harness.lmeval.benchmark:LmEvalTask",
        description="an lm-evaluation-harness task run on our adapter: --tasks lm_eval:<task>",
    )]


@hookimpl
def harness_add_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("lm-eval", help="lm-eval's own CLI with our model registered as --model harness",
                              add_help=False, prefix_chars="\0")
    p.add_argument("lm_eval_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=run_lm_eval_cli)


def run_lm_eval_cli(args: argparse.Namespace, pm: object) -> int:
    """Hand the remaining arguments to lm-eval's CLI after registering ``--model harness``."""
    import harness.lmeval.model  # noqa: F401 - registers the model with lm-eval
    from lm_eval.__main__ import cli_evaluate

    sys.argv = ["lm-eval", *args.lm_eval_args]
    try:
        cli_evaluate()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
