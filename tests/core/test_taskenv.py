"""``$HARNESS_REFDATA`` in task arguments: expanded for a run, a clear error when unset or wrong."""

from __future__ import annotations

import os

from testutil import assert_user_error, run_cli

from harness.taskenv import expand_args
from harness.tasks import TaskConfig


def _env_without_refdata() -> dict:
    return {k: v for k, v in os.environ.items() if k != "HARNESS_REFDATA"}


def test_unset_refdata_names_the_variable_and_the_line():
    import subprocess
    import sys

    from testutil import REPO

    res = subprocess.run([sys.executable, "-m", "harness", "run", "--tasks", "mquake_hard_noedit", "--limit", "1"],
                         capture_output=True, text=True, env=_env_without_refdata(), cwd=REPO, timeout=300)
    assert_user_error(res, "HARNESS_REFDATA is not set", "mquake_hard_noedit.yaml:8:", "reference data")
    assert "invalid arguments" not in res.stderr


def test_refdata_pointing_nowhere_says_what_it_expanded_to(tmp_path):
    res = run_cli(["run", "--tasks", "causalgym_acceptance", "--limit", "1"], env={"HARNESS_REFDATA": str(tmp_path / "nope")})
    assert_user_error(res, "does not exist", str(tmp_path / "nope"), "causalgym_acceptance.yaml:")


def test_expansion_reaches_nested_values(tmp_path, monkeypatch):
    (tmp_path / "a.json").write_text("{}")
    monkeypatch.setenv("HARNESS_REFDATA", str(tmp_path))
    cfg = TaskConfig(name="t", benchmark="b")
    out = expand_args(cfg, {"data": "$HARNESS_REFDATA/a.json", "files": ["${HARNESS_REFDATA}/a.json"], "n": 3,
                            "plain": "no variables"})
    assert out == {"data": f"{tmp_path}/a.json", "files": [f"{tmp_path}/a.json"], "n": 3, "plain": "no variables"}
