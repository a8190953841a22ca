"""The CPU thread policy (harness.threads), --threads / threads=, and the bench's busy processes."""

from __future__ import annotations

import json
import os
import time

import pytest

from harness import threads
from harness.bench_suite import busy_processes
from testutil import assert_user_error, run_cli


def test_parse_setting_accepts_auto_and_positive_integers_only():
    assert threads.parse_setting("auto") == "auto" and threads.parse_setting(" AUTO ") == "auto"
    assert threads.parse_setting("3") == 3 and threads.parse_setting(2) == 2
    for bad in ("0", 0, -1, "two", True, 1.5, ""):
        with pytest.raises(ValueError, match="expected a positive number of threads or 'auto'"):
            threads.parse_setting(bad)


def test_auto_takes_the_free_cores_and_at_least_one():
    assert threads.auto_threads(2, 0.0) == 2
    assert threads.auto_threads(2, 0.4) == 2  # background noise does not cost a core
    assert threads.auto_threads(2, 0.6) == 1
    assert threads.auto_threads(2, 5.0) == 1  # oversubscribed: one thread, never zero
    assert threads.auto_threads(16, 3.2) == 13


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as fh:  # a zombie is not running
        return fh.read().split()[2] != "Z"


def test_busy_processes_load_the_cpu_and_stop_on_exit_and_on_error():
    with busy_processes(1) as procs:
        pid = procs[0].pid
        assert _alive(pid)
        busy = threads.busy_cores()
        assert busy is not None and 0.8 <= busy <= threads.machine()["cores"]  # the busy child counts; this process does not
    assert not _alive(pid)
    with pytest.raises(RuntimeError):
        with busy_processes(2) as procs:
            pids = [p.pid for p in procs]
            raise RuntimeError("boom")
    assert not any(_alive(p) for p in pids)


def test_own_cpu_is_not_counted_as_busy():
    """A window in which only this process computes must leave the cores free."""
    import threading

    stop = threading.Event()

    def spin():
        while not stop.is_set():
            sum(range(1000))

    worker = threading.Thread(target=spin)
    worker.start()
    try:
        with_own = threads.busy_cores(window=0.5)
    finally:
        stop.set()
        worker.join()
    idle = threads.busy_cores(window=0.5)
    assert with_own is not None and idle is not None
    assert with_own <= idle + 0.5  # our spinning thread (about one core) is subtracted


def test_hf_adapter_threads_argument_sets_torch_threads():
    import torch

    from harness.models.hf import HFAdapter
    from harness.testing import tiny_model, tokenizer

    before = torch.get_num_threads()
    try:
        HFAdapter.from_model(tiny_model("llama", seed=0), tokenizer(), threads=1)
        assert torch.get_num_threads() == 1
    finally:
        threads.configure("auto")
        torch.set_num_threads(before)


def test_run_records_threads_cpu_and_load(tmp_path, example_plugin_site, tiny_model_dir):
    env = {"PYTHONPATH": str(example_plugin_site)}
    res = run_cli(["run", "--tasks", "arith_small", "--threads", "1", "--model-args", f"pretrained={tiny_model_dir}",
                   "--output-path", str(tmp_path), "--no-progress"], env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    doc = json.loads(next(tmp_path.glob("*/results_*.json")).read_text())
    meta = doc["tasks"]["arith_small"]
    assert meta["threads"] == 1 and meta["cpu_seconds"] > 0
    assert doc["config"]["threads"] == 1
    env_info = doc["environment"]
    assert env_info["cpu_model"] and env_info["cores"] >= 1
    assert len(env_info["loadavg_before"]) == 3 and len(env_info["loadavg_after"]) == 3


def test_bad_threads_values_are_user_errors(example_plugin_site, tiny_model_dir):
    env = {"PYTHONPATH": str(example_plugin_site)}
    res = run_cli(["run", "--tasks", "arith_small", "--threads", "0"], env=env)
    assert_user_error(res, "--threads", "expected a positive number of threads or 'auto'")
    res = run_cli(["run", "--tasks", "arith_small", "--model-args", f"pretrained={tiny_model_dir},threads=many"], env=env)
    assert_user_error(res, "threads='many'", "expected a positive integer or 'auto'")


def test_busy_since_last_measures_the_interval_between_batches_without_waiting():
    threads.busy_since_last(0.0)  # start an interval
    assert threads.busy_since_last() is None  # under a second later: too short to judge
    with busy_processes(1):
        threads.busy_since_last(0.0)
        time.sleep(1.2)
        t0 = time.perf_counter()
        busy = threads.busy_since_last()
        assert time.perf_counter() - t0 < 0.1  # no sampling window
    assert busy is not None and 0.8 <= busy <= threads.machine()["cores"]


def test_recheck_changes_nothing_under_a_fixed_setting():
    import torch

    before = torch.get_num_threads()
    try:
        threads.configure(1)
        assert torch.get_num_threads() == 1
        with busy_processes(1):
            time.sleep(1.2)
            assert threads.recheck() is None and torch.get_num_threads() == 1
    finally:
        threads.configure("auto")
        torch.set_num_threads(before)


def test_auto_between_tasks_reads_the_interval_since_the_last_reading_without_waiting():
    """The per-task choice uses the previous task's window when it spans a second; the first
    choice of a run (no interval yet) samples for WINDOW_S."""
    if threads.machine()["cores"] < 2:
        pytest.skip("auto only measures load with two or more usable cores")
    with busy_processes(1):
        threads.busy_since_last(0.0)
        time.sleep(1.2)
        t0 = time.perf_counter()
        choice = threads.choose(threads.AUTO)
        assert time.perf_counter() - t0 < threads.WINDOW_S / 2  # no sampling window
    assert choice.busy_cores is not None and choice.busy_cores >= 0.8
    threads.busy_since_last(0.0)
    t0 = time.perf_counter()
    threads.choose(threads.AUTO)  # the interval is too short: a fresh sample
    assert time.perf_counter() - t0 >= threads.WINDOW_S
