"""A run killed with SIGKILL mid-task resumes without recomputing or duplicating samples."""

import json
import os
import signal
import subprocess
import sys
import time

from testutil import REPO, run_cli


def sample_lines(out_dir):
    files = sorted(out_dir.glob("*/samples_arith_long_*.jsonl"))
    assert len(files) == 1, files
    return [json.loads(line) for line in files[0].read_text().splitlines() if line.strip()]


def test_sigkill_then_resume_gives_the_same_metrics(tmp_path, example_plugin_site, tiny_model_dir):
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "long.yaml").write_text("task: arith_long\nbenchmark: arith_mc\nargs: {n: 240}\n")
    env = {**os.environ, "PYTHONPATH": str(example_plugin_site)}
    base = ["--include-path", str(tasks), "run", "--tasks", "arith_long", "--model-args", f"pretrained={tiny_model_dir}",
            "--no-progress", "--seed", "3"]

    killed_out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "harness", *base, "--output-path", str(killed_out), "--log-samples"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while time.time() < deadline:
        files = list(killed_out.glob("*/samples_arith_long_*.jsonl"))
        if files and len(files[0].read_text().splitlines()) >= 30:
            break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = sample_lines(killed_out)
    assert 30 <= len(partial) < 240, "the run was not killed mid-task"
    assert not list(killed_out.glob("*/results_*.json"))

    resumed = run_cli([*base, "--output-path", str(killed_out), "--resume"], env=env)
    assert resumed.returncode == 0, resumed.stderr
    lines = sample_lines(killed_out)
    ids = [rec["sample_id"] for rec in lines]
    assert len(ids) == len(set(ids)) == 240
    assert lines[: len(partial)] == partial  # finished samples read back, not recomputed
    doc = json.loads(next(killed_out.glob("*/results_*.json")).read_text())
    assert doc["tasks"]["arith_long"]["n_resumed"] == len(partial)

    fresh_out = tmp_path / "fresh"
    fresh = run_cli([*base, "--output-path", str(fresh_out)], env=env)
    assert fresh.returncode == 0, fresh.stderr
    ref = json.loads(next(fresh_out.glob("*/results_*.json")).read_text())
    assert doc["results"] == ref["results"] and doc["stderr"] == ref["stderr"]
    assert isinstance(lines[0]["values"]["acc"], int) and isinstance(lines[0]["values"]["logprobs"][0], float)
    assert len(lines[0]["doc_hash"]) == 64 and len(lines[0]["prompt_hash"]) == 64


def test_results_document_layout(tmp_path, example_plugin_site, tiny_model_dir):
    res = run_cli(["run", "--tasks", "arith_small", "--model-args", f"pretrained={tiny_model_dir}", "--no-progress",
                   "--output-path", str(tmp_path), "--limit", "6"], env={"PYTHONPATH": str(example_plugin_site)})
    assert res.returncode == 0, res.stderr
    doc = json.loads(next(tmp_path.glob("*/results_*.json")).read_text())
    assert set(doc["results"]["arith_small"]) == {"acc"}
    assert 0.0 <= doc["results"]["arith_small"]["acc"] <= 1.0
    assert doc["tasks"]["arith_small"]["n_samples"] == 6
    assert doc["tasks"]["arith_small"]["metrics"]["acc"] == {"display_name": "Accuracy", "higher_is_better": True}
    assert len(doc["model"]["fingerprint"]) == 64
    assert doc["environment"]["packages"]["torch"]
    assert doc["config"]["limit"] == 6 and doc["wall_seconds"] > 0
    assert not list(tmp_path.glob("*/samples_*"))  # no sample logs unless asked
