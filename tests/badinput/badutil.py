"""Helpers of the bad-input battery: a model-free toy task and real CLI runs of it."""

from __future__ import annotations

import json
import os
from pathlib import Path

from testutil import run_cli
from toyplugin import write_docs

HERE = Path(__file__).resolve().parent


def toy_env(**extra: str) -> dict:
    return {"PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]), **extra}


def toy_task(tmp_path: Path, rows: list[dict], name: str = "toy") -> list[str]:
    """A task folder with one toy task over ``rows``; returns the CLI arguments that run it."""
    tasks = tmp_path / "tasks"
    tasks.mkdir(exist_ok=True)
    docs = write_docs(tmp_path / f"{name}.jsonl", rows)
    (tasks / f"{name}.yaml").write_text(f"task: {name}\nbenchmark: toy_docs\nargs: {{path: {json.dumps(str(docs))}}}\n")
    return ["--plugin", "toyplugin", "--include-path", str(tasks), "run", "--tasks", name, "--no-progress"]


def run_toy(args: list[str], **env: str):
    return run_cli(args, env=toy_env(**env), timeout=120)


def header_line(stderr: str) -> str:
    """The run's start line (other plugins' warnings may come first)."""
    return next(line for line in stderr.splitlines() if line.startswith("harness: model "))


def results_of(out: Path) -> dict:
    files = sorted(out.glob("*/results_*.json"))
    assert len(files) == 1, files
    return json.loads(files[0].read_text())


def log_lines(out: Path, task: str = "toy") -> list[dict]:
    files = sorted(out.glob(f"*/samples_{task}_*.jsonl"))
    assert len(files) == 1, files
    return [json.loads(line) for line in files[0].read_text().splitlines() if line.strip()]
