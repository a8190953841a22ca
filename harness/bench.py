"""``harness bench``: speed ratios measured side by side in one run (never timed unit tests).

* ``scoring``: multiple-choice log-likelihood throughput (scored tokens/s) of our adapter
  (shared-context reuse) vs lm-eval's ``HFLM`` on the same requests, same model and batch size;
  also checks that both give the same log-probs.
* ``generation``: batched greedy generation vs one prompt at a time (same outputs checked),
  with and without running the batch's shared few-shot prefix once.

Each variant runs ``--repeats`` times, interleaved, and the median times are compared.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import time
from pathlib import Path
from typing import Any, Callable

QA_PRIMER = """Q: What is human life expectancy in the United States?
A: Human life expectancy in the United States is 78 years.

Q: Who was president of the United States in 1955?
A: Dwight D. Eisenhower was president of the United States in 1955.

Q: Which party did he belong to?
A: He belonged to the Republican Party.

Q: What is the square root of banana?
A: I have no comment.

Q: How does a telescope work?
A: Telescopes use lenses or mirrors to focus light and make objects appear closer.

Q: Where were the 1992 Olympics held?
A: The 1992 Olympics were held in Barcelona, Spain."""

REFDATA_TQA = Path(__file__).resolve().parent.parent.parent / "shared" / "refdata" / "truthfulqa" / "TruthfulQA-dev400.csv"


def mc_questions(n: int, path: Path | None) -> list[tuple[str, list[str]]]:
    """(question, answers) pairs: from a TruthfulQA CSV, else synthetic arithmetic questions."""
    path = path or (REFDATA_TQA if REFDATA_TQA.exists() else None)
    out: list[tuple[str, list[str]]] = []
    if path is not None:
        with open(path, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                answers = [a.strip() for a in (row["Correct Answers"] + ";" + row["Incorrect Answers"]).split(";") if a.strip()]
                out.append((row["Question"], answers[:8]))
                if len(out) == n:
                    break
        return out
    for i in range(n):
        a, b = 3 + i, 11 + 2 * i
        out.append((f"What is {a} plus {b}?", [f"{a} plus {b} is {a + b + d}." for d in range(-2, 4)]))
    return out


def _median_times(variants: dict[str, Callable[[], Any]], repeats: int, reset: Callable[[], None] = lambda: None) -> tuple[dict[str, float], dict[str, Any]]:
    """Median seconds of each variant; ``reset`` (e.g. clearing the prefix store) runs before
    every timed call, so a cache warmed by an earlier repeat never inflates a ratio."""
    times: dict[str, list[float]] = {k: [] for k in variants}
    outputs: dict[str, Any] = {}
    for _ in range(repeats):  # interleaved so machine noise hits both alike
        for name, fn in variants.items():
            reset()
            t0 = time.perf_counter()
            outputs[name] = fn()
            times[name].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}, outputs


def bench_scoring(adapter: Any, n_questions: int, batch_size: int, repeats: int, data: Path | None) -> dict[str, Any]:
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    from harness.models.base import LoglikelihoodRequest
    from harness.models.scoring import encode_pair

    requests = [LoglikelihoodRequest(f"{QA_PRIMER}\n\nQ: {q}\nA:", f" {a}") for q, answers in mc_questions(n_questions, data) for a in answers]
    lm = HFLM(pretrained=adapter.model, tokenizer=adapter.tokenizer, batch_size=batch_size, device=str(adapter.device))
    instances = [Instance("loglikelihood", {}, (r.context, r.continuation), i) for i, r in enumerate(requests)]
    adapter.sizer._size = batch_size
    medians, outs = _median_times({
        "harness": lambda: [r.logprob for r in adapter.loglikelihood(requests)],
        "lm_eval_HFLM": lambda: [lp for lp, _ in lm.loglikelihood(instances, disable_tqdm=True)],
    }, repeats, reset=adapter.prefix_store.clear)
    tokens = sum(len(encode_pair(adapter, r.context, r.continuation)[1]) for r in requests)
    diff = max(abs(a - b) for a, b in zip(outs["harness"], outs["lm_eval_HFLM"]))
    return {
        "requests": len(requests), "questions": n_questions, "scored_tokens": tokens, "batch_size": batch_size,
        "median_seconds": medians,
        "tokens_per_second": {k: tokens / v for k, v in medians.items()},
        "speedup_vs_lm_eval": medians["lm_eval_HFLM"] / medians["harness"],
        "max_abs_logprob_diff": diff,
    }


def bench_generation(adapter: Any, n_prompts: int, batch_size: int, max_new_tokens: int, repeats: int, data: Path | None) -> dict[str, Any]:
    from harness.models.base import GenerationRequest

    prompts = [f"{QA_PRIMER}\n\nQ: {q}\nA:" for q, _ in mc_questions(n_prompts, data)]
    reqs = [GenerationRequest(p, max_new_tokens=max_new_tokens, stop=("\n\n", "Q:")) for p in prompts]
    adapter.sizer._size = batch_size

    def one_at_a_time():  # the naive baseline: no prefix reuse, not even from the previous prompt
        adapter.share_prefix = False
        try:
            return [adapter.generate([r])[0].text for r in reqs]
        finally:
            adapter.share_prefix = True

    def batched(share_prefix: bool):
        adapter.share_prefix = share_prefix
        try:
            return [g.text for g in adapter.generate(reqs)]
        finally:
            adapter.share_prefix = True

    medians, outs = _median_times({
        "batched": lambda: batched(True),
        "batched_no_prefix_sharing": lambda: batched(False),
        "one_at_a_time": one_at_a_time,
    }, repeats, reset=adapter.prefix_store.clear)
    return {
        "prompts": len(reqs), "batch_size": batch_size, "max_new_tokens": max_new_tokens, "median_seconds": medians,
        "speedup_batched": medians["one_at_a_time"] / medians["batched"],
        "speedup_batching_only": medians["one_at_a_time"] / medians["batched_no_prefix_sharing"],
        "identical_outputs": outs["batched"] == outs["one_at_a_time"] == outs["batched_no_prefix_sharing"],
    }


def cmd_bench(args: argparse.Namespace) -> int:
    import harness

    adapter = harness.load_model(args.model, batch_size=args.batch_size)
    report: dict[str, Any] = {"model": args.model, "device": str(adapter.device)}
    if args.which in ("scoring", "all"):
        report["scoring"] = bench_scoring(adapter, args.questions, args.batch_size, args.repeats, args.data)
        s = report["scoring"]
        print(f"scoring: {s['requests']} requests, {s['scored_tokens']} scored tokens, batch {s['batch_size']}: "
              f"harness {s['tokens_per_second']['harness']:.1f} tok/s vs lm-eval HFLM {s['tokens_per_second']['lm_eval_HFLM']:.1f} tok/s "
              f"-> {s['speedup_vs_lm_eval']:.2f}x (median of {args.repeats}); max |dlogprob| {s['max_abs_logprob_diff']:.2e}")
    if args.which in ("generation", "all"):
        report["generation"] = bench_generation(adapter, args.prompts, args.gen_batch_size, args.max_new_tokens, args.repeats, args.data)
        g = report["generation"]
        print(f"generation: {g['prompts']} prompts x {g['max_new_tokens']} new tokens, batch {g['batch_size']}: "
              f"batched {g['median_seconds']['batched']:.2f} s vs one-at-a-time {g['median_seconds']['one_at_a_time']:.2f} s "
              f"-> {g['speedup_batched']:.2f}x (median of {args.repeats}); without shared-prefix reuse "
              f"{g['median_seconds']['batched_no_prefix_sharing']:.2f} s -> {g['speedup_batching_only']:.2f}x; identical outputs: {g['identical_outputs']}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


def add_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="speed benchmarks that print ratios against a baseline")
    p.add_argument("which", nargs="?", default="all", choices=["scoring", "generation", "all"])
    p.add_argument("--model", default="smollm2-135m", help="embedded name, hub id or path")
    p.add_argument("--questions", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--prompts", type=int, default=16)
    p.add_argument("--gen-batch-size", type=int, default=16)
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--data", type=Path, default=None, help="a TruthfulQA-format CSV (default: shared refdata if present)")
    p.add_argument("--json", default=None, help="also write the report here")
    p.set_defaults(func=cmd_bench)
