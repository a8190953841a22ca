"""Fixtures: a results folder with two comparable runs and an old-style one (see vw_fixtures)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vw_fixtures import Runs, write_runs


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    return write_runs(tmp_path_factory.mktemp("viewer") / "results")


@pytest.fixture(scope="session")
def bundle(runs: Runs, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The static site of ``runs`` written by the real command."""
    from testutil import run_cli

    out = tmp_path_factory.mktemp("bundle") / "site"
    proc = run_cli(["view", str(runs.root), "--bundle", str(out)])
    assert proc.returncode == 0, proc.stderr
    return out
