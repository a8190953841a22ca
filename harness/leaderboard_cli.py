"""Wires the leaderboard command (harness.leaderboard) into the CLI without importing it eagerly."""

from __future__ import annotations

import argparse


def add_command(sub: argparse._SubParsersAction) -> None:
    try:
        from harness.leaderboard import add_command as add_leaderboard
    except ImportError:
        return
    add_leaderboard(sub)
