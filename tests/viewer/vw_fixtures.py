"""Results folders for the viewer tests, written in the runner's own format.

Two runs of one third-party task (generic rendering) that differ in limit and seed, with
logs long enough to need several pages, a failed sample, hostile strings in the samples,
and an old-style results file that lacks configuration, environment and samples_file.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.results import json_safe, sample_record, stable_hash, write_json_atomic
from harness.benchmark import SampleResult

REPO = Path(__file__).resolve().parents[2]
EVIL = "<script>window.__pwned=1</script>"
EVIL_ATTR = "\"'><img src=x onerror=\"window.__pwned=1\">"
N_SAMPLES = 60
TASK = "toy_task"


@dataclass
class Runs:
    root: Path
    a: str  # run ids
    b: str
    old: str
    acc_a: dict[str, int]
    acc_b: dict[str, int]
    score_a: dict[str, float]
    score_b: dict[str, float]


def _acc(i: int, run: str) -> int:
    return int((i * 7 + (3 if run == "b" else 0)) % 5 < 3)


def _score(i: int, run: str) -> float:
    return round(math.sin(i) + (0.25 if run == "b" else 0.0) + (i % 3) * 0.1, 6)


def _samples(run: str, path: Path) -> tuple[dict[str, int], dict[str, float]]:
    acc, score = {}, {}
    with path.open("w", encoding="utf-8") as fh:
        for i in range(N_SAMPLES):
            sid = f"s{i:03d}"
            doc = {"method": ["das", "probe", "mean"][i % 3], "layer": i % 4,
                   "text": (EVIL if i == 3 else EVIL_ATTR if i == 4 else f"question number {i}")}
            if run == "a" and i == 7:
                rec = sample_record(SampleResult(sid, {}), doc, "p")
                rec["error"] = f"RuntimeError: boom {EVIL}"
            else:
                acc[sid], score[sid] = _acc(i, run), _score(i, run)
                rec = sample_record(SampleResult(sid, {"acc": acc[sid], "score": score[sid]}, {"answer": f"answer {i}"}), doc, "p")
            fh.write(json.dumps(json_safe(rec)) + "\n")
    return acc, score


def _effective(dtype: str, output: str) -> dict[str, Any]:
    """An ``effective_config`` block as the runner writes it (harness/effective.py)."""
    block = {"model": {"class": "harness.models.hf.HFAdapter", "device": "cpu", "dtype": dtype, "name": "tiny",
                       "batch_size": {"requested": None, "resolved": 8, "out_of_memory_cap": None, "max_batch_size": 64}},
             "run": {"output_path": output}, "versions": {"harness": "0.1.0", "plugins": {"thirdparty": "1.0"}},
             "git_hash": "abc123"}
    return {**block, "digest": stable_hash(block, 64)}


def _doc(run_id: str, created: str, limit: int | None, seed: int, samples_file: str, acc: dict[str, int], n_failed: int,
         dtype: str) -> dict[str, Any]:
    mean = sum(acc.values()) / len(acc)
    return {
        "effective_config": _effective(dtype, f"out-{run_id}"),
        "schema_version": 1, "run_id": run_id, "created": created,
        "model": {"name": "tiny-model", "adapter": "hf", "args": {"pretrained": "tiny"}, "fingerprint": "f" * 64},
        "config": {"model": "hf", "model_args": {"pretrained": "tiny"}, "tasks": [TASK], "include_paths": [],
                   "batch_size": None, "limit": limit, "seed": seed, "output_path": "out", "log_samples": True,
                   "resume": False, "cache_requests": None, "plugins": [], "blocked": [], "progress": True},
        "environment": {"python": "3.11.7", "platform": "Linux", "packages": {"interp-harness": "0.1.0"}, "git_hash": "abc123"},
        "results": {TASK: {"acc": mean, "score": sum(1 for _ in acc) / 100}},
        "stderr": {TASK: {"acc": 0.05}},
        "tasks": {TASK: {"benchmark": "toy", "plugin": "thirdparty", "description": f"a toy task {EVIL}", "args": {"n": N_SAMPLES},
                         "n_samples": len(acc), "n_failed": n_failed, "failed_samples": {"s007": "RuntimeError: boom"} if n_failed else {},
                         "wall_seconds": 1.5, "samples_file": samples_file,
                         "metrics": {"acc": {"display_name": "Accuracy", "higher_is_better": True}}}},
        "details": {}, "errors": {}, "wall_seconds": 2.0,
    }


def write_runs(root: Path) -> Runs:
    folder = root / "tiny-model"
    folder.mkdir(parents=True)
    acc_a, score_a = _samples("a", folder / "samples_toy_task_aaaa.jsonl")
    acc_b, score_b = _samples("b", folder / "samples_toy_task_bbbb.jsonl")
    write_json_atomic(folder / "results_20260101T000000_aaaaaa.json",
                      _doc("aaaa1111", "2026-01-01T00:00:00+00:00", None, 1234, "samples_toy_task_aaaa.jsonl", acc_a, 1, "float32"))
    write_json_atomic(folder / "results_20260102T000000_bbbbbb.json",
                      _doc("bbbb2222", "2026-01-02T00:00:00+00:00", 40, 7, "samples_toy_task_bbbb.jsonl", acc_b, 0, "bfloat16"))
    old = folder.parent / "old"
    old.mkdir()
    with (old / "samples_toy_task_0123456789ab.jsonl").open("w", encoding="utf-8") as fh:
        fh.write(json.dumps(sample_record(SampleResult("x1", {"acc": 1}), {"text": "old"}, "p")) + "\n")
        fh.write('{"sample_id": "torn", "val')  # a killed writer's last line
    write_json_atomic(old / "results_20250101T000000_cccccc.json", {
        "run_id": "old0", "model": {"name": "old-model"}, "results": {TASK: {"acc": 1.0}},
        "tasks": {TASK: {"benchmark": "toy"}}})
    return Runs(root, "aaaa1111", "bbbb2222", "old0", acc_a, acc_b, score_a, score_b)


def harness_env() -> dict[str, str]:
    path = os.pathsep.join([str(REPO), str(REPO / ".devpath"), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path}


class Server:
    """``harness view DIR --no-browser`` as a real subprocess; ``url`` once it listens."""

    def __init__(self, root: Path):
        self.proc = subprocess.Popen([sys.executable, "-m", "harness", "view", str(root), "--no-browser"], cwd=REPO,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=harness_env())
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        found = re.search(r"http://127\.0\.0\.1:\d+/", line)
        if not found:
            self.close()
            raise RuntimeError(f"harness view did not start: {line!r} {self.proc.stderr.read() if self.proc.stderr else ''}")
        self.url = found[0]

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def task_digest(args: Any) -> str:
    return stable_hash(args, 12)
