"""``harness bench suite``: a real ``harness run`` in a subprocess, timed per task, with --load."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from testutil import REPO, assert_user_error, run_cli


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_bench_suite_times_each_task_under_load_into_one_json(tmp_path, example_plugin_site, tiny_model_dir):
    out = tmp_path / "bench.json"
    env = {"PYTHONPATH": str(example_plugin_site)}
    res = run_cli(["bench", "suite", "--tasks", "arith_small", "--model-args", f"pretrained={tiny_model_dir}",
                   "--load", "1", "--threads", "1", "--json", str(out)], env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    doc = json.loads(out.read_text())
    ctx = doc["context"]
    assert ctx["extra_busy_processes"] == 1 and ctx["cpu_model"] and ctx["cores"] >= 1
    assert {"torch", "transformers"} <= set(ctx["versions"]) and len(doc["loadavg_before"]) == 3
    suite = doc["suite"]
    task = suite["tasks"]["arith_small"]
    assert task["threads"] == 1 and task["wall_seconds"] > 0 and task["cpu_seconds"] > 0
    assert 0 <= task["metrics"]["acc"] <= 1 and "acc" in task["stderr"]
    assert suite["wall_seconds"] >= suite["harness_wall_seconds"] >= task["wall_seconds"]
    assert suite["cpu_seconds"] > 0 and not suite["errors"]
    assert "arith_small" in res.stdout and "CPU-s" in res.stdout


def test_bench_load_processes_stop_on_ctrl_c(tmp_path, example_plugin_site, tiny_model_dir):
    env = {**os.environ, "PYTHONPATH": str(example_plugin_site)}
    proc = subprocess.Popen([sys.executable, "-m", "harness", "bench", "suite", "--tasks", "arith_small",
                             "--model-args", f"pretrained={tiny_model_dir}", "--load", "2"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    busy: list[int] = []
    deadline = time.time() + 60
    while len(busy) < 2 and time.time() < deadline:  # the two busy processes, before the run starts
        busy = [c for c in _children(proc.pid) if "-c" in Path(f"/proc/{c}/cmdline").read_text("utf-8", "replace").split("\0")]
        time.sleep(0.1)
    assert len(busy) == 2, proc.communicate(timeout=60)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    time.sleep(0.5)
    assert not any(_running(p) for p in busy), err[-2000:]


def test_bench_unknown_part_is_a_user_error():
    res = run_cli(["bench", "suites"])
    assert_user_error(res, "unknown bench suites", "scoring, generation, threads, suite")


def test_readme_performance_table_is_rendered_from_the_committed_bench_json():
    import re

    from harness.bench_table import BEGIN, END, markdown

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    source = re.search(r"From \[`(results/bench/[^`]+\.json)`\]", block).group(1)
    report = json.loads((REPO / source).read_text(encoding="utf-8"))
    assert block == markdown(report, source)
    res = run_cli(["bench", "--table", source])
    assert res.returncode == 0 and res.stdout.strip() == block
    for part in ("scoring", "generation", "threads", "suite"):  # `harness bench all`: every bench in one JSON
        assert part in report, part
    res = run_cli(["bench", "--table", "README.md"])
    assert_user_error(res, "--table README.md: not a readable `harness bench --json` report")
