"""hf vs nnsight on the default tasks of the white-box plugins: same metrics, same outputs, and
what each backend costs. Writes a JSON report (the README's backend table comes from it).

    OMP_NUM_THREADS=1 python tests/perf/compare_backends.py --out results/bench/backends.json

Backends: ``hf`` (cached interchange engine), ``hf`` with ``cached_rerun=false`` (full forwards
with an edit: the computation nnsight can do), and ``nnsight``. Per task: every metric's largest
difference from hf, whether every logged sample output (timings aside) is identical, wall seconds.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

TASKS = ["causalgym_quick", "ravel_city", "activation_decoding_truthfulqa_sample", "mquake_mini_mello"]
BACKENDS = {"hf": ("hf", {}), "hf_full_forward": ("hf", {"cached_rerun": False}), "nnsight": ("nnsight", {})}


def _strip(obj):
    """A sample's values and log without timings (which differ run to run)."""
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if "second" not in k}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def _same(a, b) -> bool:
    """Equal, counting NaN as equal to NaN."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _samples(out_dir: Path, task: str) -> dict:
    path = sorted(out_dir.rglob(f"samples_{task}_*.jsonl"))[-1]
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {r["sample_id"]: _strip({"values": r.get("values"), "log": r.get("log")}) for r in rows}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="results/bench/backends.json")
    parser.add_argument("--tasks", default=",".join(TASKS))
    args = parser.parse_args()
    from harness.runner import RunConfig, run

    report: dict = {"model": "smollm2-135m", "tasks": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for task in args.tasks.split(","):
            entry: dict = {}
            for name, (model, extra) in BACKENDS.items():
                out = Path(tmp) / name / task
                t0 = time.perf_counter()
                doc = run(RunConfig(model=model, model_args={"pretrained": "smollm2-135m", **extra}, tasks=[task],
                                    output_path=out, log_samples=True, progress=False))
                seconds = time.perf_counter() - t0
                if task in doc["errors"]:
                    entry[name] = {"error": doc["errors"][task], "seconds": round(seconds, 1)}
                    continue
                entry[name] = {"seconds": round(seconds, 1), "metrics": doc["results"][task], "samples": _samples(out, task)}
                print(f"{task} {name}: {seconds:.1f} s", flush=True)
            base = entry["hf"]
            for name, res in entry.items():
                if name == "hf" or "error" in res:
                    continue
                diffs = [abs(a - res["metrics"][k]) for k, a in base["metrics"].items()
                         if isinstance(a, (int, float)) and isinstance(res["metrics"].get(k), (int, float))
                         and not (math.isnan(a) and math.isnan(res["metrics"][k]))]
                res["max_metric_diff_vs_hf"] = max(diffs, default=0.0)
                res["differing_metrics_vs_hf"] = sorted(k for k, a in base["metrics"].items() if not _same(a, res["metrics"].get(k)))
                res["samples_identical_to_hf"] = _same(res["samples"], base["samples"])
            if "error" not in entry.get("hf_full_forward", {"error": 1}) and "error" not in entry.get("nnsight", {"error": 1}):
                entry["nnsight"]["samples_identical_to_hf_full_forward"] = _same(entry["nnsight"]["samples"], entry["hf_full_forward"]["samples"])
                entry["nnsight"]["metrics_identical_to_hf_full_forward"] = _same(entry["nnsight"]["metrics"], entry["hf_full_forward"]["metrics"])
            for res in entry.values():
                res.pop("samples", None)
            report["tasks"][task] = entry
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2, default=str))
    print(json.dumps({t: {b: {k: v for k, v in r.items() if k != "metrics"} for b, r in e.items()} for t, e in report["tasks"].items()}, indent=2))


if __name__ == "__main__":
    main()
