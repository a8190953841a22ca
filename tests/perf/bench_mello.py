"""MeLLo per case: this checkout's generation against a reference checkout's, in one process.

    OMP_NUM_THREADS=1 python tests/perf/bench_mello.py --reference ../other-checkout --cases 4 \
        --data MQuAKE-hard-dev100.json --demos MeLLo-prompt.txt

The reference's ``harness/models/generation.py`` and ``harness/whitebox/decode.py`` are loaded
beside this checkout's (everything else is shared: model, benchmark, retriever), and the two run
interleaved on the same cases with the prefix store cleared before each run, so load changes
and warm caches hit neither side alone. Prints the median seconds per case of each, the ratio,
how many cases gave identical values and generations, the threads and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def _load(name: str, path: Path, replace: tuple[tuple[str, str], ...] = ()):
    src = path.read_text(encoding="utf-8")
    for a, b in replace:
        src = src.replace(a, b)
    mod = types.ModuleType(name)
    mod.__file__ = str(path)
    sys.modules[name] = mod  # before running it: its dataclasses look their module up
    exec(compile(src, str(path), "exec"), mod.__dict__)  # noqa: S102 - a trusted checkout
    return mod


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", type=Path, required=True, help="another checkout of the harness")
    ap.add_argument("--cases", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--data", required=True, help="an MQuAKE JSON file")
    ap.add_argument("--demos", required=True, help="the MeLLo demonstrations file")
    args = ap.parse_args()

    _load("reference_decode", args.reference / "harness/whitebox/decode.py")
    ref_gen = _load("reference_generation", args.reference / "harness/models/generation.py",
                    (("from harness.whitebox.decode import", "from reference_decode import"),))
    import torch

    import harness
    from harness.benchmark import TaskContext
    from harness.models import generation
    from harness_plugins.mquake.benchmark import MQuAKEBenchmark

    load_before = os.getloadavg()
    adapter = harness.load_model(args.model)
    bench = MQuAKEBenchmark(data=args.data, demos=args.demos, method="mello", k=1, n_questions=1)
    ctx = TaskContext(task="bench_mello", limit=args.cases)
    samples = bench.samples(adapter, ctx)[: args.cases]
    bench.evaluate(adapter, samples[:1], ctx)  # untimed: loads the retriever and indexes the memories
    variants = {"this": generation.generate, "reference": ref_gen.generate}
    times: dict[str, list[float]] = {k: [] for k in variants}
    logs: dict[str, list] = {}
    for _ in range(args.repeats):
        for name, fn in variants.items():
            adapter.prefix_store.clear()
            adapter.generate = (lambda f: lambda reqs, progress=False: f(adapter, reqs, progress=progress))(fn)
            t0 = time.perf_counter()
            results = bench.evaluate(adapter, samples, ctx)
            times[name].append(time.perf_counter() - t0)
            logs[name] = [(r.values, [[it["generation"] for it in q["iterations"]] for q in r.log["questions"]]) for r in results]
    med = {k: statistics.median(v) for k, v in times.items()}
    print(json.dumps({
        "cases": len(samples), "repeats": args.repeats, "seconds_per_case": {k: round(v / len(samples), 2) for k, v in med.items()},
        "speedup": round(med["reference"] / med["this"], 2),
        "identical_cases": sum(a == b for a, b in zip(logs["this"], logs["reference"])),
        "threads": torch.get_num_threads(), "load_before": load_before, "load_after": os.getloadavg(),
    }))


if __name__ == "__main__":
    main()
