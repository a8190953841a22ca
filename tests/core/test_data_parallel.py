"""Data-parallel runs: 2 CPU processes (gloo) give the same metrics and complete, unduplicated logs."""

import json
import os
import subprocess
import sys

import pytest

from testutil import REPO, run_cli

pytest.importorskip("accelerate")


def results(out):
    doc = json.loads(next(out.glob("*/results_*.json")).read_text())
    lines = [json.loads(x) for f in out.glob("*/samples_*.jsonl") for x in f.read_text().splitlines()]
    return doc, lines


@pytest.mark.slow
def test_two_processes_equal_one(tmp_path, example_plugin_site, tiny_model_dir):
    env = {**os.environ, "PYTHONPATH": str(example_plugin_site), "OMP_NUM_THREADS": "1"}
    args = ["run", "--tasks", "arith_small", "--model-args", f"pretrained={tiny_model_dir}", "--no-progress", "--log-samples"]
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
              "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29517", "-m", "harness"]
    dp = subprocess.run([*launch, *args, "--output-path", str(tmp_path / "dp")], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=600)
    assert dp.returncode == 0, dp.stderr[-3000:]
    assert dp.stdout.count("arith_small | acc") == 1  # only rank 0 reports
    single = run_cli([*args, "--output-path", str(tmp_path / "one")], env={"PYTHONPATH": str(example_plugin_site)})
    assert single.returncode == 0, single.stderr

    dp_doc, dp_lines = results(tmp_path / "dp")
    one_doc, one_lines = results(tmp_path / "one")
    assert dp_doc["config"]["world_size"] == 2
    assert dp_doc["results"] == one_doc["results"] and dp_doc["stderr"] == one_doc["stderr"]
    ids = [r["sample_id"] for r in dp_lines]
    assert len(ids) == len(set(ids)) == 20
    assert sorted(ids) == sorted(r["sample_id"] for r in one_lines)
    by_id = {r["sample_id"]: r["values"] for r in one_lines}
    for rec in dp_lines:
        assert rec["values"]["pred"] == by_id[rec["sample_id"]]["pred"]
