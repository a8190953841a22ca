"""A command: ``harness arith-show [--n N]`` prints the first questions of the arithmetic benchmark."""

from __future__ import annotations

import argparse

from harness.benchmark import TaskContext


def add(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("arith-show", help="print the first questions of the arithmetic benchmark")
    p.add_argument("--n", type=int, default=3, help="how many questions (default: 3)")
    p.add_argument("--seed", type=int, default=1234)
    p.set_defaults(func=show)


def show(args: argparse.Namespace, pm) -> int:
    """Like every command: called with the parsed arguments and the harness's plugin manager."""
    spec = pm.registry().benchmarks["arith_mc"]  # the benchmark as this plugin registered it
    bench = spec.load()(n=args.n)
    for sample in bench.samples(None, TaskContext(task="arith-show", seed=args.seed)):
        choices = ", ".join(str(c) for c in sample.doc["choices"])
        print(f"{sample.id}: {sample.doc['a']} + {sample.doc['b']} = ?  [{choices}]  answer {sample.doc['choices'][sample.doc['answer']]}")
    return 0
