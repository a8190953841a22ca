"""Shared fixture: one leaderboard built by the real command from a realistic results folder."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from lb_fixtures import Tree, run_leaderboard, write_tree


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Tree, Path, subprocess.CompletedProcess[str]]:
    """The tree and one leaderboard built from it by the real command (shared by the tests)."""
    base = tmp_path_factory.mktemp("leaderboard")
    tree = write_tree(base / "results")
    out = base / "out"
    proc = run_leaderboard(tree, out)
    return tree, out, proc
