"""A model-free test plugin (``--plugin toyplugin``): samples from a JSONL file, faults on demand.

Each line is ``{"id": .., "x": .., "fail": bool, "sleep": seconds}``. A sample with ``fail``
raises unless ``TOY_FAIL=0``; ``sleep`` makes it slow and it reports progress inside itself.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from harness.benchmark import Benchmark, Sample, SampleResult, mean_metrics
from harness.hookspecs import hookimpl
from harness.registry import BenchmarkSpec, MetricSpec

HARNESS_API_VERSION = "2.0"


class ToyDocs(Benchmark):
    batch_size = 4  # samples per evaluate() call (main renames this samples_per_call)
    samples_per_call = 4
    needs_model = False

    def __init__(self, path: str):
        self.path = Path(path)

    def samples(self, model, ctx):
        rows = [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]
        return [Sample(id=str(r["id"]), doc=r, prompt=f"x={r['x']}") for r in rows]

    def evaluate(self, model, samples, ctx):
        out = []
        for s in samples:
            steps = 4 if s.doc.get("sleep") else 0
            for i in range(steps):
                getattr(ctx, "report", print)(f"step {i + 1}/{steps} of {s.id}")  # (print: harness before issue 16)
                time.sleep(s.doc["sleep"] / steps)
            if s.doc.get("fail") and os.environ.get("TOY_FAIL", "1") != "0":
                raise ValueError(f"toy failure in {s.id}")
            out.append(SampleResult(s.id, {"y": 2 * s.doc["x"]}))
        return out

    def aggregate(self, results, ctx):
        return mean_metrics(results, ["y"])


@hookimpl
def harness_register_benchmarks():
    return [BenchmarkSpec(name="toy_docs", implementation=ToyDocs, metrics=(MetricSpec("y", "Y"),))]


def write_docs(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path
