"""The core plugin ``leaderboard``: adds the ``harness leaderboard`` command through
``harness_add_commands`` without importing :mod:`harness.leaderboard` before it runs."""

from __future__ import annotations

import argparse

from harness.hookspecs import hookimpl


@hookimpl
def harness_add_commands(subparsers: argparse._SubParsersAction) -> None:
    from harness.leaderboard.command import add_command

    add_command(subparsers)
