"""The core type-checks: mypy over ``harness/`` with the project's configuration
(``[tool.mypy]`` in pyproject.toml: unannotated functions checked too, every ignore names its
error code). A real subprocess, so the test command of the README is also the type check."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mypy", reason="the test extra installs mypy: pip install -e '.[test]'")

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_mypy_reports_no_errors_in_harness():
    proc = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"mypy found errors (run `python -m mypy` in the repository):\n{proc.stdout}{proc.stderr}"
    assert "Success: no issues found" in proc.stdout
