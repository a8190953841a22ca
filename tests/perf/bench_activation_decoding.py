"""Activation decoding: peak memory of the in-context entropy with and without vocabulary
chunking, and multiple-choice scoring speed with and without shared-prefix reuse.

    nice python tests/perf/bench_activation_decoding.py            # both parts
    nice python tests/perf/bench_activation_decoding.py --quick    # smaller sizes, a smoke run

Memory: E(v) for one prompt of n positions over a Gemma-3-sized vocabulary (262,144 x 640,
random weights), computed in a fresh subprocess per variant; the peak resident set size of
that process (ru_maxrss) minus the same process's size before the computation is reported
(glibc's mmap threshold is pinned so that freed chunk buffers do not linger on the heap).
Unchunked materialises the n x V logit table; chunked holds n x 8192 at a time.

Speed: TruthfulQA-style questions (the shipped sample) on SmolLM2-135M, scored for greedy and
one activation setting by :class:`MCScorer` with prefix reuse (the primer and question run once,
answers batched from the KV cache, the primer's cache kept across questions) and without
(every prompt + answer run in full). Both run in this process, interleaved; scores must agree.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

MEMORY_CHILD = r"""
import json, resource, sys, torch
torch.manual_seed(0)
vocab, d, n, chunk = (int(x) for x in sys.argv[1:5])
from harness_plugins.activation_decoding.entropy import context_entropy, position_entropy
weight = torch.randn(vocab, d).div_(d ** 0.5)  # in place: no temporary raises the baseline peak
states = torch.randn(1, n, d)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if chunk > 0:
    e = context_entropy(states, [n], lambda h, cols: h @ weight[cols].T, vocab, chunk_size=chunk)
else:
    e = position_entropy(states[0] @ weight.T)[None]
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"extra_mib": (peak - base) / 1024, "checksum": float(e.double().sum())}))
"""


def memory_part(vocab: int, d: int, n: int) -> dict:
    out = {}
    for name, chunk in (("unchunked", 0), ("chunked_8192", 8192)):
        # glibc's adaptive mmap threshold would otherwise keep freed chunk buffers on a fragmented
        # heap, adding a run-to-run varying amount; pinned, the peak reflects live tensors only.
        env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "1048576"}
        res = subprocess.run([sys.executable, "-c", MEMORY_CHILD, str(vocab), str(d), str(n), str(chunk)],
                             capture_output=True, text=True, check=True, cwd=REPO, env=env)
        out[name] = json.loads(res.stdout.strip().splitlines()[-1])
    same = abs(out["unchunked"]["checksum"] - out["chunked_8192"]["checksum"]) <= 1e-3 * abs(out["unchunked"]["checksum"])
    ratio = out["unchunked"]["extra_mib"] / max(out["chunked_8192"]["extra_mib"], 1e-9)
    print(f"E over n={n} positions, V={vocab}, d={d}: extra peak RSS unchunked {out['unchunked']['extra_mib']:.0f} MiB, "
          f"chunked {out['chunked_8192']['extra_mib']:.0f} MiB (ratio {ratio:.1f}x), same values: {same}")
    return {"vocab": vocab, "d": d, "n": n, **out, "ratio": ratio, "same": same}


def speed_part(n_questions: int, repeats: int) -> dict:
    import torch

    from harness.models.embedded import load_embedded
    from harness_plugins.activation_decoding.benchmarks import DATA_DIR
    from harness_plugins.activation_decoding.mc_scorer import MCScorer
    from harness_plugins.activation_decoding.settings import MethodSetting
    from harness_plugins.activation_decoding.truthfulqa import load_truthfulqa, mc_prompt

    torch.set_num_threads(1)  # stable timings on a shared machine
    adapter = load_embedded("smollm2-135m")
    settings = [MethodSetting.parse("greedy"), MethodSetting.parse("activation,alpha=0.5,info_layer=-1,final_norm=true")]
    questions = load_truthfulqa(DATA_DIR / "truthfulqa_sample.csv")[:n_questions]

    def run(reuse: bool) -> list[dict]:
        scorer = MCScorer(adapter, settings, use_prefix_cache=reuse)
        return [r.scores for q in questions for r in scorer.score(mc_prompt(q.question), q.answers())]

    times: dict[str, list[float]] = {"reuse": [], "full": []}
    results = {}
    for _ in range(repeats):
        for name, reuse in (("reuse", True), ("full", False)):
            t0 = time.perf_counter()
            results[name] = run(reuse)
            times[name].append(time.perf_counter() - t0)
    worst = max(abs(a[k] - b[k]) for a, b in zip(results["reuse"], results["full"]) for k in a)
    med = {k: statistics.median(v) for k, v in times.items()}
    n_answers = sum(len(q.answers()) for q in questions)
    print(f"MC scoring, {n_questions} questions / {n_answers} answers on SmolLM2 (1 thread): with prefix reuse {med['reuse']:.2f} s, "
          f"full forwards {med['full']:.2f} s -> {med['full'] / med['reuse']:.2f}x faster; max |score difference| {worst:.2e}")
    return {"n_questions": n_questions, "n_answers": n_answers, "median_s": med, "speedup": med["full"] / med["reuse"], "max_abs_diff": worst}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args()
    report = {
        "memory": memory_part(262_144, 640, 64 if args.quick else 512),
        "speed": speed_part(4 if args.quick else 20, 1 if args.quick else 3),
    }
    if args.json:
        import torch

        from harness.bench_suite import context

        report["command"] = "python tests/perf/bench_activation_decoding.py" + (" --quick" if args.quick else "")
        report["context"] = {**context(0), "threads": torch.get_num_threads()}
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
