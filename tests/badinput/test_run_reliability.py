"""Issue 16, points 3, 4 and 7 and the run-level "what to build" items, on a model-free toy task."""

import json
import os
import signal
import subprocess
import sys
import time

from badutil import header_line, log_lines, results_of, run_toy, toy_env, toy_task
from testutil import REPO, assert_user_error

ROWS = [{"id": f"s{i}", "x": i, "fail": i == 5} for i in range(10)]


def test_a_failing_sample_fails_alone_and_resume_retries_it(tmp_path):
    args = toy_task(tmp_path, ROWS) + ["--output-path", str(tmp_path / "out"), "--log-samples"]
    res = run_toy(args)
    assert res.returncode == 1, res.stderr  # the run says something failed...
    assert "Traceback" not in res.stderr and "s5" in res.stderr and "--resume retries" in res.stderr
    doc = results_of(tmp_path / "out")
    meta = doc["tasks"]["toy"]
    assert meta["n_failed"] == 1 and list(meta["failed_samples"]) == ["s5"]  # ...names the sample...
    assert "toy failure in s5" in meta["failed_samples"]["s5"]
    assert doc["results"]["toy"]["y"] == sum(2 * i for i in range(10) if i != 5) / 9  # ...and keeps its batch-mates
    lines = {r["sample_id"]: r for r in log_lines(tmp_path / "out")}
    assert len(lines) == 10 and "toy failure" in lines["s5"]["error"] and lines["s4"]["values"] == {"y": 8}

    fixed = run_toy(args + ["--resume"], TOY_FAIL="0")
    assert fixed.returncode == 0, fixed.stderr
    assert "9 sample(s) reused" in fixed.stderr and "1 failed last time and are retried" in fixed.stderr
    lines = log_lines(tmp_path / "out")
    assert sorted(r["sample_id"] for r in lines) == sorted(r["id"] for r in ROWS)  # no duplicates, none missing
    assert all("error" not in r for r in lines)


def test_resume_recomputes_samples_whose_data_changed(tmp_path):
    rows = [{"id": f"s{i}", "x": i} for i in range(8)]
    args = toy_task(tmp_path, rows) + ["--output-path", str(tmp_path / "out"), "--log-samples"]
    assert run_toy(args).returncode == 0
    rows[2]["x"] = 100  # the data file changes; the sample id does not
    toy_task(tmp_path, rows)
    res = run_toy(args + ["--resume"])
    assert res.returncode == 0, res.stderr
    assert "7 sample(s) reused; 1 changed since they were logged" in res.stderr
    doc = json.loads(max((tmp_path / "out").glob("*/results_*.json"), key=lambda f: f.stat().st_mtime_ns).read_text())
    assert doc["results"]["toy"]["y"] == sum(2 * r["x"] for r in rows) / 8  # not the stale value
    assert doc["tasks"]["toy"]["n_recomputed"] == 1 and doc["tasks"]["toy"]["n_resumed"] == 7


def test_a_second_run_never_renames_the_first_runs_log(tmp_path):
    args = toy_task(tmp_path, [{"id": "a", "x": 1}]) + ["--output-path", str(tmp_path / "out"), "--log-samples"]
    firsts = []
    for _ in range(3):  # three runs in the same second must not overwrite each other's logs
        assert run_toy(args).returncode == 0
    for path in sorted((tmp_path / "out").glob("*/results_*.json")):
        doc = json.loads(path.read_text())
        firsts.append(doc["tasks"]["toy"]["samples_file"])
        assert (path.parent / doc["tasks"]["toy"]["samples_file"]).exists()
    assert len(set(firsts)) == 3  # each results file points at its own log


def test_output_folder_is_locked_by_a_running_run(tmp_path):
    from harness.outdir import OutputLock, check_output_dir

    args = toy_task(tmp_path, [{"id": "a", "x": 1}]) + ["--output-path", str(tmp_path / "out")]
    with OutputLock(check_output_dir(tmp_path / "out")):
        res = run_toy(args)
    assert_user_error(res, "is in use by another run", f"pid {os.getpid()}")
    assert not list((tmp_path / "out").glob("*/results_*.json"))
    assert run_toy(args).returncode == 0  # released


def test_two_concurrent_resumes_do_not_lose_samples(tmp_path):
    rows = [{"id": f"s{i}", "x": i, "sleep": 0.1} for i in range(24)]
    args = toy_task(tmp_path, rows) + ["--output-path", str(tmp_path / "out"), "--resume"]
    env = {**os.environ, **toy_env()}
    procs = [subprocess.Popen([sys.executable, "-m", "harness", *args], cwd=REPO, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 2], outs  # one ran, the other was refused while it held the folder
    assert any("is in use by another run" in err for _, err in outs)
    lines = log_lines(tmp_path / "out")
    assert sorted(r["sample_id"] for r in lines) == sorted(r["id"] for r in rows)


def test_ctrl_c_saves_prints_one_line_and_exits_130(tmp_path):
    rows = [{"id": f"s{i:02d}", "x": i, "sleep": 0.1} for i in range(40)]
    args = toy_task(tmp_path, rows) + ["--output-path", str(tmp_path / "out"), "--log-samples"]
    proc = subprocess.Popen([sys.executable, "-m", "harness", *args], cwd=REPO, env={**os.environ, **toy_env()},
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline and not [p for p in (tmp_path / "out").glob("*/samples_toy_*.jsonl") if p.stat().st_size]:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    line = [ln for ln in err.splitlines() if "interrupted" in ln]
    assert len(line) == 1 and "--resume" in line[0] and "sample(s) of task toy" in line[0], err
    saved = log_lines(tmp_path / "out")
    assert 0 < len(saved) < 40
    res = run_toy(args + ["--resume"])
    assert res.returncode == 0, res.stderr
    assert sorted(r["sample_id"] for r in log_lines(tmp_path / "out")) == [r["id"] for r in rows]


def test_header_and_heartbeat_show_life(tmp_path):
    args = toy_task(tmp_path, [{"id": "slow", "x": 1, "sleep": 1.2}]) + ["--output-path", str(tmp_path / "out")]
    args.remove("--no-progress")
    res = run_toy(args, HARNESS_HEARTBEAT_SECONDS="0.25")
    assert res.returncode == 0, res.stderr
    first = header_line(res.stderr)
    assert first.startswith("harness: model no-model; tasks toy; output ") and str(tmp_path / "out") in first
    assert res.stderr.index(first) < res.stderr.index("still working")  # the header comes before the work
    assert "still working" in res.stderr and "step " in res.stderr and "of slow" in res.stderr
