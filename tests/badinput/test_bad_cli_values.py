"""Bad-input battery: command-line values (issue 16 points 8 and 9)."""

import sqlite3

import pytest

from badutil import run_toy, toy_task
from testutil import assert_user_error, run_cli

ROWS = [{"id": f"s{i}", "x": i} for i in range(3)]


@pytest.mark.parametrize("value", ["-1", "0", "two"])
def test_limit_must_be_positive(tmp_path, value):
    res = run_toy(toy_task(tmp_path, ROWS) + ["--limit", value, "--output-path", str(tmp_path / "out")])
    assert_user_error(res, "--limit", "expected a positive integer")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("results_*.json"))


def test_empty_tasks_is_refused(tmp_path):
    args = toy_task(tmp_path, ROWS)
    args[args.index("--tasks") + 1] = " , "
    res = run_toy(args + ["--output-path", str(tmp_path / "out")])
    assert_user_error(res, "--tasks is empty")
    assert not list((tmp_path / "out").rglob("results_*.json"))


@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_batch_size_is_checked_before_any_model_loads(tmp_path, value):
    res = run_cli(["run", "--tasks", "causalgym_quick", "--batch-size", value,
                   "--model-args", f"pretrained={tmp_path / 'absent-model'}", "--output-path", str(tmp_path)])
    assert_user_error(res, "--batch-size", "positive integer")
    assert "absent-model" not in res.stderr


def test_corrupt_request_cache_is_one_clear_error(tmp_path):
    cache = tmp_path / "cache.sqlite"
    cache.write_bytes(b"this is not a database" * 100)
    res = run_cli(["run", "--tasks", "causalgym_quick", "--cache-requests", str(cache),
                   "--model-args", f"pretrained={tmp_path / 'absent-model'}", "--output-path", str(tmp_path / "out")])
    assert_user_error(res, f"--cache-requests {cache}: not a request cache")


def test_valid_request_cache_is_accepted(tmp_path):
    from harness.runner import check_cache_file

    path = tmp_path / "ok.sqlite"
    sqlite3.connect(str(path)).execute("CREATE TABLE cache (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    check_cache_file(path)  # does not raise
    check_cache_file(tmp_path / "new.sqlite")


def test_leaderboard_out_that_is_a_file(tmp_path):
    from testutil import REPO

    target = tmp_path / "board.md"
    target.write_text("keep me")
    res = run_cli(["leaderboard", str(REPO / "results"), "--out", str(target), "--no-plots"])
    assert_user_error(res, f"--out {target}: is a file, not a folder")
    assert target.read_text() == "keep me"


def test_resume_and_log_samples_need_a_folder_in_the_python_api():
    from harness.runner import RunConfig, RunError, run

    for flag in ("resume", "log_samples"):
        with pytest.raises(RunError, match=f"--{flag.replace('_', '-')} needs an output folder"):
            run(RunConfig(tasks=["causalgym_quick"], **{flag: True}))


def test_block_option_needs_no_prefix():
    res = run_cli(["-p", "arith", "list"])
    assert_user_error(res, "-p expects no:NAME")
