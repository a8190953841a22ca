"""Global options (--plugin, -p no:NAME, --include-path, -v, --verbosity) before or after the sub-command."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.cli import build_parser, command_index, main
from testutil import REPO, assert_user_error, run_cli

BADINPUT = REPO / "tests" / "badinput"


def _task_dir(tmp_path: Path) -> Path:
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"id": f"d{i}", "x": i}) + "\n" for i in range(3)))
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "toy.yaml").write_text(f"task: toy\nbenchmark: toy_docs\nargs: {{path: {json.dumps(str(docs))}}}\n")
    return tasks


def _listed(capsys, argv: list[str]) -> dict[str, str]:
    assert main(argv) == 0
    return {r["task"]: r["plugin"] for r in json.loads(capsys.readouterr().out)["tasks"]}


def test_the_same_options_work_on_either_side_of_the_command(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(BADINPUT))
    tasks = _task_dir(tmp_path)
    before = _listed(capsys, ["--plugin", "toyplugin", "--include-path", str(tasks), "-p", "no:causalgym", "list", "--json"])
    after = _listed(capsys, ["list", "--json", "--plugin", "toyplugin", "--include-path", str(tasks), "-p", "no:causalgym"])
    mixed = _listed(capsys, ["--plugin", "toyplugin", "list", "-v", "--include-path", str(tasks), "--json", "-p", "no:causalgym"])
    assert before == after == mixed
    assert before["toy"] == "toyplugin" and not [t for t in before if t.startswith("causalgym")]
    assert [t for t in _listed(capsys, ["list", "--json"]) if t.startswith("causalgym")]  # not blocked without -p


def test_a_bad_global_option_after_the_command_is_a_one_line_error(tmp_path):
    res = run_cli(["list", "-p", "causalgym"])
    assert_user_error(res, "-p expects no:NAME, got 'causalgym'")
    res = run_cli(["list", "--include-path", str(tmp_path / "missing")])
    assert_user_error(res, "--include-path", "missing")


def test_a_run_takes_them_after_run(tmp_path):
    tasks = _task_dir(tmp_path)
    env = {"PYTHONPATH": os.pathsep.join([str(BADINPUT), os.environ.get("PYTHONPATH", "")])}
    res = run_cli(["run", "--tasks", "toy", "--no-progress", "--plugin", "toyplugin", "--include-path", str(tasks),
                   "--verbosity", "INFO", "--output-path", str(tmp_path / "out")], env=env, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "toy" in res.stdout and sorted((tmp_path / "out").glob("*/results_*.json"))


def test_pass_through_commands_keep_their_own_options():
    from harness.pluginmanager import PluginManager

    parser = build_parser(PluginManager().load())
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    assert "--include-path" in {s for a in sub.choices["run"]._actions for s in a.option_strings}
    if "lm-eval" in sub.choices:  # its arguments go to lm-eval untouched
        assert "--include-path" not in {s for a in sub.choices["lm-eval"]._actions for s in a.option_strings}
    assert command_index(["--plugin", "m", "-v", "--include-path", "d", "run", "--plugin", "x"]) == 5
    assert command_index(["-v"]) == 1


@pytest.mark.parametrize("argv", [["-v", "list", "--json"], ["list", "--json", "-vv"]])
def test_verbose_flag_in_both_places(argv, capsys):
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["tasks"]
