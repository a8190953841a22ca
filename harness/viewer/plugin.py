"""Registers ``harness view`` (a core module loaded as a plugin, like any command's provider)."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.hookspecs import hookimpl

__version__ = "0.1.0"
HARNESS_API_VERSION = "2.0"


@hookimpl
def harness_add_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "view", help="browse results down to each sample, compare runs, see how each run was made",
        description="Serve a results folder on http://127.0.0.1 (a free port; loopback only) and open it in a "
                    "browser, or with --bundle write a static site that works from file:// and any static host.")
    p.add_argument("dir", type=Path, metavar="DIR", help="a results folder (every results_*.json under it, at any depth)")
    p.add_argument("--bundle", type=Path, metavar="OUT", help="write a static site to OUT instead of serving")
    p.add_argument("--port", type=int, default=0, help="port to serve on (default: a free one)")
    p.add_argument("--no-browser", action="store_true", help="print the address without opening a browser")
    p.set_defaults(func=cmd_view)


def cmd_view(args: argparse.Namespace, pm: object) -> int:
    from harness.viewer.command import view

    return view(args, pm)
