"""Shared test helpers (a uniquely named module: several test folders have a conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# The papers' reference data: $HARNESS_REFDATA, or a shared/refdata folder beside the clone.
REFDATA = Path(os.environ.get("HARNESS_REFDATA") or REPO.parent / "shared" / "refdata")


def refdata(*parts: str) -> Path:
    """A path under the reference data folder, or skip the test when that data is absent."""
    path = REFDATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"reference data {path} is not present")
    return path


def run_cli(args: list[str], env: dict | None = None, cwd: Path | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run ``python -m harness ARGS`` as a real subprocess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd or REPO, timeout=timeout)


def assert_user_error(res: subprocess.CompletedProcess, *needles: str, code: int = 2) -> None:
    """A user error: exit ``code``, every needle in stderr, and no traceback."""
    assert res.returncode == code, (res.returncode, res.stdout[-2000:], res.stderr[-3000:])
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    for needle in needles:
        assert needle in res.stderr, (needle, res.stderr[-3000:])


def example_plugin_source(folder: Path) -> Path:
    """A copy of the example plugin's source, so building it leaves no build/ or egg-info in the repository."""
    import shutil

    return Path(shutil.copytree(REPO / "tests" / "example_plugin", folder / "example_plugin",
                                ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__")))
