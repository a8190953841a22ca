"""Bad-input battery: task and suite YAML files (issue 16 points 2, 8, 10)."""

import json
import time

import pytest

from badutil import run_toy, toy_task
from testutil import assert_user_error, run_cli

LEVELS = "abcdefg"  # 10**7 leaves once expanded (the 107 s / 3.4 GB bomb had two more levels)
BOMB = "".join(f"  {c}: &{c} [{', '.join([f'*{p}'] * 10) if p else ', '.join(['x'] * 10)}]\n"
               for p, c in zip(["", *LEVELS[:-1]], LEVELS))
HOSTILE = {
    "alias_bomb.yaml": "task: bomb\nbenchmark: toy_docs\nargs:\n" + BOMB + "description: [*g, *g]\n",
    "long_line.yaml": "task: long\nbenchmark: toy_docs\nargs:\n  x: &x " + "y" * 2000 + "\n"
                      + "  l1: &l1 [*x, *x, *x, *x, *x, *x, *x, *x, *x, *x]\n"
                      + "  l2: &l2 [*l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1]\n"
                      + "description: [*l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2]\n",
    "nested.yaml": "task: nested\nbenchmark: toy_docs\nargs: {path: " + "[" * 100_000 + "\n",
    "deep.yaml": "task: deep\nbenchmark: toy_docs\nargs: {path: " + "[" * 5_000 + "\n",
    "many_tokens.yaml": "task: many\nbenchmark: toy_docs\nargs: {path: [" + "1," * 30_000 + "1]}\n",
    "huge.yaml": "task: huge\nbenchmark: toy_docs\ndescription: '" + "z" * 100_000 + "'\n",
    "recursive.yaml": "task: rec\nbenchmark: toy_docs\nargs: &a {path: *a}\n",
    "suite_bomb.yaml": "suite: sbomb\ntasks: [toy]\ndescription:\n" + "".join(
        f"  - &{c} [{', '.join([f'*{p}'] * 10) if p else ', '.join(['x'] * 10)}]\n" for p, c in zip(["", *LEVELS[:-1]], LEVELS)),
}


def scan(folder):
    from harness.tasks import TaskIndex

    return TaskIndex.scan([folder])


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_file_is_refused_fast_and_alone(tmp_path, name):
    import tracemalloc

    good = toy_task(tmp_path, [{"id": "a", "x": 1}])
    (tmp_path / "tasks" / name).write_text(HOSTILE[name])
    tracemalloc.start()
    t0 = time.process_time()  # CPU seconds: wall time swings with other load on the machine
    try:
        index = scan(tmp_path / "tasks")
        elapsed, peak = time.process_time() - t0, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < 10.0 and peak < 200 * 2**20  # a YAML bomb takes minutes and GBs; a refused file takes ms
    assert "toy" in index.tasks and len(index.errors) == 1
    assert f"{name}:" in index.errors[0] and "refused" in index.errors[0]
    listing = run_toy(["--plugin", "toyplugin", "--include-path", str(tmp_path / "tasks"), "list"])
    assert listing.returncode == 0 and "toy" in listing.stdout and name in listing.stderr
    assert len(max(listing.stdout.splitlines() + listing.stderr.splitlines(), key=len)) < 5000
    res = run_toy(good + ["--output-path", str(tmp_path / "out")])  # an unrelated task still runs
    assert res.returncode == 0, res.stderr


def test_task_name_given_as_a_list_is_refused(tmp_path):
    args = toy_task(tmp_path, [{"id": "a", "x": 1}])
    (tmp_path / "tasks" / "listy.yaml").write_text("benchmark: toy_docs\n\ntask: [a, b]\n")
    res = run_toy(args[:4] + ["run", "--tasks", "listy"])
    assert_user_error(res, "listy.yaml:3", "field 'task' must be a string")


def test_string_where_a_list_is_expected_names_the_line(tmp_path):
    (tmp_path / "cg.yaml").write_text("task: cg_str\nbenchmark: causalgym\nargs:\n  n_train: 4\n  methods: das\n")
    res = run_cli(["--include-path", str(tmp_path), "run", "--tasks", "cg_str"])
    assert_user_error(res, "cg.yaml:5", "argument 'methods' must be a list", "methods: [das]")


def test_duplicate_task_names_in_one_folder_are_refused(tmp_path):
    args = toy_task(tmp_path, [{"id": "a", "x": 1}])
    (tmp_path / "tasks" / "again.yaml").write_text("task: toy\nbenchmark: toy_docs\nargs: {path: x}\n")
    res = run_toy(args)
    assert_user_error(res, "toy.yaml:1", "is also defined in", "again.yaml", "neither is used")


def test_a_task_shadowing_a_builtin_is_reported(tmp_path):
    (tmp_path / "mine.yaml").write_text("task: causalgym_quick\nbenchmark: causalgym\nargs: {n_train: 4}\n")
    res = run_cli(["--include-path", str(tmp_path), "list"])
    assert res.returncode == 0
    assert "mine.yaml: task 'causalgym_quick' overrides the one in" in res.stderr and "causalgym_quick.yaml" in res.stderr


def test_nonexistent_include_path_is_an_error(tmp_path):
    for cmd in (["list"], ["run", "--tasks", "causalgym_quick"]):
        res = run_cli(["--include-path", str(tmp_path / "nope"), *cmd])
        assert_user_error(res, f"--include-path {tmp_path / 'nope'}: no such file or folder")


def test_non_utf8_task_file_names_the_file(tmp_path):
    (tmp_path / "latin.yaml").write_bytes("task: latin\nbenchmark: toy_docs\ndescription: caf\xe9\n".encode("latin-1"))
    res = run_toy(["--plugin", "toyplugin", "--include-path", str(tmp_path), "run", "--tasks", "latin"])
    assert_user_error(res, "latin.yaml:1: not UTF-8")


def test_typo_hint_suggests_the_closest_task():
    res = run_cli(["run", "--tasks", "causalgym_quik"])
    assert_user_error(res, "unknown task 'causalgym_quik'", "similar: causalgym_quick")


def test_tags_must_be_strings(tmp_path):
    (tmp_path / "t.yaml").write_text("task: t\nbenchmark: toy_docs\ntags: [default, {x: 1}]\n")
    res = run_toy(["--plugin", "toyplugin", "--include-path", str(tmp_path), "run", "--tasks", "t"])
    assert_user_error(res, "t.yaml:3", "'tags' must be a list of strings")


def test_list_json_survives_a_bad_file(tmp_path):
    (tmp_path / "nested.yaml").write_text(HOSTILE["nested.yaml"])
    res = run_cli(["--include-path", str(tmp_path), "list", "--json"])
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert any("nested.yaml" in e for e in doc["errors"]) and any(t["task"] == "causalgym_quick" for t in doc["tasks"])
