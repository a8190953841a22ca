"""``harness bench``: speed ratios measured side by side in one run (never timed unit tests).

* ``scoring``: multiple-choice log-likelihood throughput (scored tokens/s) of our adapter
  (shared-context reuse) vs lm-eval's ``HFLM`` on the same requests, same model and batch size;
  also checks that both give the same log-probs.
* ``generation``: batched greedy generation vs one prompt at a time (same outputs checked),
  with and without running the batch's shared few-shot prefix once.
* ``das``: a DAS layer sweep, our cached interchange engine vs pyvene (:mod:`harness.bench_das`;
  needs the optional ``bench`` extra, so ``all`` leaves it out).

Each variant runs ``--repeats`` times, interleaved, and the median times are compared.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

from harness.hookspecs import hookimpl

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

def _refdata_tqa() -> Path | None:
    """The reference TruthfulQA CSV under ``$HARNESS_REFDATA``, when that is set and has it."""
    root = os.environ.get("HARNESS_REFDATA")
    path = Path(root) / "truthfulqa" / "TruthfulQA-dev400.csv" if root else None
    return path if path is not None and path.exists() else None


def mc_questions(n: int, path: Path | None) -> list[tuple[str, list[str]]]:
    """(question, answers) pairs: from a TruthfulQA CSV, else synthetic arithmetic questions."""
    path = path or _refdata_tqa()
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
    if batch_size != "auto":
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
    if batch_size != "auto":
        adapter.sizer._size = batch_size

    drafts = adapter.prompt_lookup

    def one_at_a_time():  # the naive baseline: no prefix reuse (not even from the previous prompt), one token per forward
        adapter.share_prefix, adapter.prompt_lookup = False, 0
        try:
            return [adapter.generate([r])[0].text for r in reqs]
        finally:
            adapter.share_prefix, adapter.prompt_lookup = True, drafts

    def batched(share_prefix: bool, lookup: int):
        adapter.share_prefix, adapter.prompt_lookup = share_prefix, lookup
        try:
            return [g.text for g in adapter.generate(reqs)]
        finally:
            adapter.share_prefix, adapter.prompt_lookup = True, drafts

    medians, outs = _median_times({
        "batched": lambda: batched(True, drafts),
        "batched_no_drafts": lambda: batched(True, 0),
        "batched_no_prefix_sharing": lambda: batched(False, 0),
        "one_at_a_time": one_at_a_time,
    }, repeats, reset=adapter.prefix_store.clear)
    return {
        "prompts": len(reqs), "batch_size": batch_size, "max_new_tokens": max_new_tokens, "draft_tokens": drafts,
        "median_seconds": medians,
        "speedup_batched": medians["one_at_a_time"] / medians["batched"],
        "speedup_no_drafts": medians["one_at_a_time"] / medians["batched_no_drafts"],
        "speedup_batching_only": medians["one_at_a_time"] / medians["batched_no_prefix_sharing"],
        "identical_outputs": outs["batched"] == outs["one_at_a_time"] == outs["batched_no_prefix_sharing"] == outs["batched_no_drafts"],
        "prompts_differing_with_drafts": sum(a != b for a, b in zip(outs["batched"], outs["batched_no_drafts"])),
    }


PARTS = ("scoring", "generation", "threads", "suite")  # `all` runs every one, in this order, into one JSON
OPTIONAL_PARTS = ("das",)  # named explicitly only: it needs the `bench` extra (pyvene)


def cmd_bench(args: argparse.Namespace, pm: Any) -> int:
    import harness
    from harness import bench_suite, threads
    from harness.options import split_kv

    if args.table:
        return print_table(args.table)
    parts = args.which
    if "das" in parts:  # before any model loads: a missing pyvene is a one-line user error
        from harness.bench_das import require_pyvene

        require_pyvene()
    report: dict[str, Any] = {"model": args.model, "command": "harness " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["bench"] else "harness bench",
                              "context": bench_suite.context(args.load)}
    with bench_suite.busy_processes(args.load):
        report["loadavg_before"] = threads.loadavg()
        adapter = None
        for part in parts:
            if part in ("scoring", "generation", "das") and adapter is None:
                adapter = harness.load_model(args.model, batch_size=args.batch_size, **dict(split_kv(args.model_args, "--model-args")))
                report["device"] = str(adapter.device)
            if part != "suite":
                report.setdefault("thread_choices", {})[part] = threads.configure(args.threads or threads.AUTO).to_dict()
            report[part] = _run_part(part, adapter, args, pm)
            report["loadavg_after"] = threads.loadavg()
            if args.json:  # after every part: a later failure loses nothing
                Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


def print_table(path: str) -> int:
    """Print the README's performance table from a bench JSON (nothing is run)."""
    from harness.bench_table import markdown
    from harness.tasks import TaskConfigError

    try:
        report = json.loads(Path(path).read_text(encoding="utf-8"))
        print(markdown(report, path))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise TaskConfigError(f"--table {path}: not a readable `harness bench --json` report ({type(err).__name__}: {err})") from None
    return 0


def _run_part(part: str, adapter: Any, args: argparse.Namespace, pm: Any = None) -> dict[str, Any]:
    from harness import bench_suite

    if part == "scoring":
        s = bench_scoring(adapter, args.questions, args.batch_size, args.repeats, args.data)
        print(f"scoring: {s['requests']} requests, {s['scored_tokens']} scored tokens, batch {s['batch_size']}: "
              f"harness {s['tokens_per_second']['harness']:.1f} tok/s vs lm-eval HFLM {s['tokens_per_second']['lm_eval_HFLM']:.1f} tok/s "
              f"-> {s['speedup_vs_lm_eval']:.2f}x (median of {args.repeats}); max |dlogprob| {s['max_abs_logprob_diff']:.2e}")
        return s
    if part == "generation":
        g = bench_generation(adapter, args.prompts, args.gen_batch_size, args.max_new_tokens, args.repeats, args.data)
        print(f"generation: {g['prompts']} prompts x {g['max_new_tokens']} new tokens, batch {g['batch_size']}: "
              f"batched {g['median_seconds']['batched']:.2f} s vs one-at-a-time {g['median_seconds']['one_at_a_time']:.2f} s "
              f"-> {g['speedup_batched']:.2f}x (median of {args.repeats}); without shared-prefix reuse "
              f"{g['median_seconds']['batched_no_prefix_sharing']:.2f} s -> {g['speedup_batching_only']:.2f}x; without drafts "
              f"{g['median_seconds']['batched_no_drafts']:.2f} s -> {g['speedup_no_drafts']:.2f}x; identical outputs: {g['identical_outputs']}")
        return g
    if part == "das":
        from harness import bench_das

        d = bench_das.bench_das(adapter, pm, args.layers, n_train=args.n_train, n_eval=args.n_eval, steps=args.steps,
                                batch_size=args.train_batch_size, lr=args.lr, rank=args.rank, repeats=args.repeats,
                                progress=lambda line: print(f"das: {line}", file=sys.stderr, flush=True))
        bench_das.print_das(d)
        return d
    if part == "threads":
        t = bench_suite.bench_threads(args.model, args.repeats)
        bench_suite.print_threads(t)
        return t
    model_args = args.model_args if args.model == "smollm2-135m" else ",".join(filter(None, [f"pretrained={args.model}", args.model_args]))
    s = bench_suite.bench_suite(args.tasks, model_args, args.threads, warm_cache=args.warm_cache)
    bench_suite.print_suite(s)
    return s


def _parts(text: str) -> list[str]:
    """argparse type: ``all`` or a comma-separated list of parts, run in the order given."""
    names = [t.strip() for t in text.split(",") if t.strip()]
    if names == ["all"]:
        return list(PARTS)
    bad = [n for n in names if n not in PARTS + OPTIONAL_PARTS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"unknown bench {', '.join(bad) or repr(text)} (choose from {', '.join(PARTS + OPTIONAL_PARTS)}, or all)")
    return names


def _sites(text: str) -> list[int]:
    """argparse type: a comma-separated list of site numbers (block outputs, 1-based)."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items or not all(t.isdigit() and int(t) >= 1 for t in items):
        raise argparse.ArgumentTypeError(f"expected sites such as 4,8,12,16,20 (block outputs, from 1), got {text!r}")
    return [int(t) for t in items]


def _count(text: str) -> int:
    """argparse type: an integer >= 0."""
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"expected a number of processes (0 or more), got {text!r}")
    return int(text)


@hookimpl
def harness_add_commands(subparsers: argparse._SubParsersAction) -> None:
    """The core plugin ``bench`` adds ``harness bench`` like any plugin's command."""
    add_command(subparsers)


def add_command(sub: argparse._SubParsersAction) -> None:
    from harness.cli import batch_size, threads_arg

    p = sub.add_parser("bench", help="speed benchmarks that print ratios against a baseline")
    p.add_argument("which", nargs="?", default=list(PARTS), type=_parts, metavar="PART[,PART...]|all",
                   help="scoring, generation, threads (the thread policy), suite (the default suite in a subprocess), or all (default); "
                        "also das (DAS sweep vs pyvene, needs the bench extra; not part of all)")
    p.add_argument("--model", default="smollm2-135m", help="embedded name, hub id or path")
    p.add_argument("--questions", type=int, default=50)
    p.add_argument("--batch-size", type=batch_size, default=8, help="N or auto")
    p.add_argument("--prompts", type=int, default=16)
    p.add_argument("--gen-batch-size", type=batch_size, default=16, help="N or auto")
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--data", type=Path, default=None, help="a TruthfulQA-format CSV (default: $HARNESS_REFDATA/truthfulqa/TruthfulQA-dev400.csv if present, else synthetic questions)")
    p.add_argument("--load", type=_count, default=0, metavar="N", help="run N busy processes beside the bench (stopped afterwards)")
    p.add_argument("--threads", type=threads_arg, default=None, metavar="N|auto", help="torch CPU threads (default auto)")
    p.add_argument("--tasks", default="default", help="suite: the tasks to run (default: the default suite)")
    p.add_argument("--warm-cache", action="store_true", help="suite: reuse the user cache (default: a fresh one, as a first run)")
    p.add_argument("--model-args", default="", help="k=v,... for the model (e.g. dtype=bfloat16); suite: passed to harness run")
    p.add_argument("--layers", type=_sites, default=[4, 8, 12, 16, 20], metavar="S,S,...", help="das: the sites swept (block outputs, 1-based)")
    p.add_argument("--n-train", type=int, default=64, help="das: training pairs")
    p.add_argument("--n-eval", type=int, default=32, help="das: held-out pairs")
    p.add_argument("--steps", type=int, default=40, help="das: optimiser steps per site (both implementations)")
    p.add_argument("--train-batch-size", type=int, default=16, help="das: pairs per step")
    p.add_argument("--lr", type=float, default=5e-3, help="das: Adam learning rate")
    p.add_argument("--rank", type=int, default=1, help="das: dimension of the rotated subspace")
    p.add_argument("--json", default=None, help="also write the report here (one JSON for all parts)")
    p.add_argument("--table", default=None, metavar="JSON", help="print the README's performance table from a bench JSON and exit")
    p.set_defaults(func=cmd_bench)
