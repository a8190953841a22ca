"""Generate ``performance.md`` from the committed benchmark JSON files under ``results/bench/``.

Every ``*.json`` file there is rendered, whatever its shape: scalars become a list, a mapping of
records becomes a table (one row per record), and a mapping field the records share (such as
``metrics``) becomes a side-by-side table. A figure the docs used to quote without a committed
JSON file is listed as removed until its file exists. Run by mkdocs-gen-files at build time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mkdocs_gen_files

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "results" / "bench"

INTRO = """# Performance

Speed targets are benchmarks that print ratios measured side by side in one run (variants
interleaved, medians of repeats), never timed unit tests:

```bash
harness bench all --json results/bench/bench_all.json   # every bench below into one JSON
harness bench scoring      # multiple choice: our adapter vs lm-eval HFLM, same requests, model and batch size
harness bench generation   # batched greedy generation vs one prompt at a time
harness bench threads      # prefill and decoding at 1 thread, one per core and what --threads auto picks
harness bench suite        # the default suite (`harness run`) in a subprocess: wall and CPU seconds per task
harness bench suite --load 2                            # the same beside 2 busy processes it starts and stops
harness bench das --repeats 1 --json results/bench/das_pyvene.json   # DAS layer sweep: ours vs pyvene (bench extra)
harness bench --table results/bench/bench_all.json      # print the README's table from a bench JSON
python tests/perf/bench_llm_usage.py          # LLM-usage estimator vs a per-sentence implementation
python tests/perf/bench_interventions.py --json results/bench/interventions.json   # cached interventions vs full forwards with hooks
python tests/perf/bench_activation_decoding.py --json results/bench/activation_decoding.json   # chunked E, prefix reuse in MC scoring
python tests/perf/bench_mello.py --reference ../main-at-f66d76f --cases 8 --json results/bench/mello.json   # MeLLo per case vs a reference checkout
OMP_NUM_THREADS=1 python tests/perf/compare_backends.py --out results/bench/backends.json   # hf vs nnsight
```

`harness bench scoring` builds TruthfulQA-style requests (the 6-shot QA primer, each question's
answers as continuations; questions from `--data`, or `$HARNESS_REFDATA/truthfulqa/` when set,
else synthetic ones) and also prints the largest log-prob difference between the two
implementations. On a shared machine the ratio, not the absolute speed, is the result.

Where the generation speed-up comes from: on a CPU, prefill of a 150-token prompt is
compute-bound, so stacking prompts saves little there; batching mainly saves per-step overhead
in the decoding steps. Prompts in a batch that share a token prefix (a few-shot primer, MeLLo's
demonstrations) have that prefix run once and its KV cache repeated for every row; the suffixes
are left-padded after it, the attention mask hides the padding and position ids count only real
tokens, so outputs equal one-at-a-time generation (tested on Llama, GPT-2 and GPT-NeoX). The
model adapter option `share_prefix=false` turns this off. Prefill also computes the LM head for
the last position only.

**Drafts in greedy decoding.** On a CPU, decoding a 135M model is bound by reading its weights:
a forward of 1 to 8 new tokens per row costs about the same as one. Under greedy decoding the
decode loop therefore guesses each row's next tokens by prompt lookup (the newest 3, 2 or 1
tokens are looked up in the row's prompt and output, and the tokens that followed their latest
earlier occurrence are the draft, up to 8), feeds the picked token and its draft in one forward
and keeps the draft's prefix that greedy decoding picks anyway; rejected columns are masked out
like padding (`harness/whitebox/lookahead.py`). MeLLo's steps copy their subquestions and the
demonstrations' scaffolding, so most drafts are accepted. A forward carries at most 32 tokens
over all rows (16 rows draft 1 token each, 4 rows 7): above that compute, not the weights,
dominates. The output is greedy decoding's own up to floating-point near-ties (a block forward
rounds differently from single-token ones; `tests/core/test_lookahead.py` allows a difference
only where the top two logits are within 1e-4); `prompt_lookup=0` turns it off, and it is off
where a sliding window could reach a masked column (Gemma 3 beyond its window).

**Grouped-query attention on shared keys.** transformers' SDPA path copies each layer's cached
keys and values once per query head whenever a forward of several tokens carries a mask (suffix
prefills after a stored prefix, draft checks, padded batches): for 16 rows of 800 cached tokens
of SmolLM2 that copy took 0.9 s of a 1.2 s forward. The adapter instead stacks the query heads
that share a key head as extra query rows of it (`harness/models/attention.py`; the same
attention, tested equal to SDPA with padding, holes, Gemma 3's window and gradients);
`packed_attention=false` turns it off.

Every bench JSON records the command, CPU model, cores, torch / transformers / harness
versions, the threads each part used and the load average before and after; `--load N` starts N
busy processes for the duration and stops them on any exit (Ctrl-C included). `harness bench
suite` gives the run an empty cache folder, as on a first run (only the converted embedded
models are shared; `--warm-cache` reuses the user cache).

**Threads.** torch's default is one thread per core, and its worker threads spin-wait for each
other: beside other busy processes a descheduled worker stalls every parallel region (the
default suite once took 23 min instead of 2 on a 2-core machine beside two busy processes).
`harness run --threads N` (or the model argument `threads=N`) fixes the count; the default,
`auto`, measures over 0.2 s how much of the usable cores other processes use (`/proc/stat`,
this process's own CPU excluded) and takes the free ones (a core counts as busy from half its
time), at least one, re-checked before each task and between a task's batches; numpy's BLAS pool
gets the same limit through threadpoolctl. `harness bench threads` is the measurement behind
it. A single busy-core reading can be wrong in either direction (in `bench_all.json` two threads
were faster but `auto` saw a busy core and picked one), which is why it is re-read rather than
fixed at start. The results file records per task the threads used (and any change during the
task), its CPU seconds and the busy cores seen at its start.

**DAS against pyvene.** `harness bench das` (not part of `all`: it needs the optional `bench`
extra, `pip install "interp-harness[bench]"`, which pins pyvene 0.1.8; without pyvene it exits 2
with that line) trains DAS on the same CausalGym pairs (our `agr_number_pp` template, the
intervention at the subject) at every site of `--layers` (default 4,8,12,16,20: site s is the
output of block s, pyvene's `block_output` of layer s-1) twice: through our trainer on the
adapter's cached interchange engine (`CachedProblem`), and through pyvene's `IntervenableModel`
with `LowRankRotatedSpaceIntervention` on the same model object. Both start from the same seeded
rotation (the orthogonal parametrisation's random completion seeded alike too), see the same
mini-batches and use Adam with the same rate, warm-up/decay schedule and number of steps
(`--n-train`, `--n-eval`, `--steps`, `--train-batch-size`, `--lr`, `--rank`); per site the two
run one after the other, so load hits both alike. Reported per site and in total: seconds (ours
also pays its clean runs once, `ours_setup_seconds`; pyvene one clean forward of the held-out
bases for the log-odds baseline), the final training loss (all training pairs, trained
rotation, untimed), the held-out log-odds effect and IIA, and the ratio. The target of issue 15
is a 5-layer sweep at least 4x faster than pyvene at equal final loss; `target_met` says whether
the run met it. Where the ratio comes from: per step pyvene runs a full source forward and a
full base forward (LM head at every position) and back-propagates through the blocks above the
site; ours reads the source state from its clean run and re-runs only the blocks above the site
on the positions from the subject on, unembedding the read position only. The subject sits
early in these short sentences, so most positions are re-run: the gain grows with the site
(fewer blocks above it) and would grow with a later position or longer inputs.

In the development environment pyvene was added with `pip install --no-deps pyvene==0.1.8`
and nothing else: its import needs only packages the environment already had (matplotlib,
networkx, huggingface_hub, tokenizers, accelerate), `pip freeze` before and after differs by
the pyvene line alone, and torch 2.13.0+cpu, transformers 5.24.0, accelerate 1.15.0 and numpy
2.4.6 did not change. pyvene's other declared requirements (ipywidgets, plotnine, protobuf,
sentencepiece) are needed neither to import it nor by this bench, so `pip check` lists them
as missing there; `pip install "interp-harness[bench]"` installs them as pyvene declares.

Every table below is generated from a JSON file committed under `results/bench/`; a number
that has no such file is not shown.
"""

#: How a committed file was measured, where its JSON cannot say so itself (shown above its figures).
NOTES = {
    "das_pyvene.json": "Measured at 1 thread on the 2-core machine, otherwise quiet except while sites 4 and 8 ran: "
                       "a 1-thread RAVEL run was using the other core then (both sides of those sites were slowed alike; "
                       "the two implementations run interleaved site by site in one process). One repeat (`--repeats 1`). "
                       "Both sides use the same model object, so pyvene gets the adapter's grouped-query attention too.",
    "interventions.json": "`--quick`: 5 of the 30 layers, 8/8 pairs and 2 DAS steps per layer, so the clean runs "
                          "(paid once by the cached side) weigh more than in a full sweep.",
    "scoring_truthfulqa.json": "`harness bench scoring` on the reference TruthfulQA questions ($HARNESS_REFDATA; "
                               "more answers per question and longer ones than the synthetic questions of bench_all.json).",
}

# Figures earlier versions of the README quoted without a committed JSON file: shown as removed
# until a results/bench/*.json file whose name contains the key exists.
FORMERLY_QUOTED = {
    "scoring": "`harness bench scoring`: multiple-choice scoring, our adapter vs lm-eval's HFLM (tokens per second and ratio)",
    "generation": "`harness bench generation`: batched greedy generation vs one prompt at a time (with and without shared-prefix reuse)",
}


def _scalar(value: Any) -> bool:
    if isinstance(value, list):
        return len(value) <= 12 and all(_scalar(v) and not isinstance(v, list) for v in value)
    return value is None or isinstance(value, (bool, int, float, str))


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(_fmt(v) for v in value) or "none"
    return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows] + [""]


def _is_records(value: Any) -> bool:
    """A non-empty mapping whose values are all mappings with at least one scalar field."""
    return isinstance(value, dict) and bool(value) and all(
        isinstance(v, dict) and any(_scalar(x) for x in v.values()) for v in value.values())


def _records(value: dict[str, dict[str, Any]], level: int) -> list[str]:
    cols = list(dict.fromkeys(k for rec in value.values() for k, v in rec.items() if _scalar(v)))
    lines = _table(["", *[f"`{c}`" for c in cols]], [[f"`{name}`", *[_fmt(rec.get(c)) for c in cols]] for name, rec in value.items()])
    shared = dict.fromkeys(k for rec in value.values() for k, v in rec.items() if isinstance(v, dict))
    for field in shared:
        subs = {name: rec.get(field) for name, rec in value.items()}
        if all(isinstance(s, dict) and all(_scalar(x) for x in s.values()) for s in subs.values() if s is not None):
            keys = list(dict.fromkeys(k for s in subs.values() if s for k in s))
            lines += [f"`{field}`:", ""]
            lines += _table(["", *[f"`{n}`" for n in subs]], [[f"`{k}`", *[_fmt((s or {}).get(k)) for s in subs.values()]] for k in keys])
        else:
            for name, sub in subs.items():
                if sub is not None:
                    lines += _node(f"{name} / {field}", sub, level + 1)
    return lines


def _node(title: str, value: Any, level: int) -> list[str]:
    lines = [f"{'#' * min(level, 6)} {title}", ""] if title else []
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        cols = list(dict.fromkeys(k for rec in value for k, v in rec.items() if _scalar(v)))
        return lines + _table([f"`{c}`" for c in cols], [[_fmt(rec.get(c)) for c in cols] for rec in value])
    if not isinstance(value, dict):
        return lines + [_fmt(value), ""]
    scalars = {k: v for k, v in value.items() if _scalar(v)}
    lines += [f"* `{k}`: {_fmt(v)}" for k, v in scalars.items()] + ([""] if scalars else [])
    rest = {k: v for k, v in value.items() if k not in scalars}
    if _is_records(rest) and len(rest) > 1:
        return lines + _records(rest, level)
    for key, sub in rest.items():
        if _is_records(sub):
            lines += [f"{'#' * min(level + 1, 6)} {key}", ""] + _records(sub, level + 1)
        else:
            lines += _node(key if not title else f"{title} / {key}", sub, level + 1)
    return lines


def _top_keys(path: Path) -> set[str]:
    """The parts a bench JSON holds (``harness bench all`` writes scoring, generation, ... into one file)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    return set(data) if isinstance(data, dict) else set()


def render(bench: Path = BENCH) -> str:
    files = sorted(bench.glob("*.json")) if bench.is_dir() else []
    lines = [INTRO]
    lines += ["Committed benchmark files: " + (", ".join(f"`results/bench/{f.name}`" for f in files) or "none") + ".", ""]
    for path in files:
        lines += [f"## `results/bench/{path.name}`", ""]
        if path.name in NOTES:
            lines += [NOTES[path.name], ""]
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            lines += [f"This file could not be read ({err}).", ""]
            continue
        lines += _node("", data, 3)
    removed = [text for key, text in FORMERLY_QUOTED.items() if not any(key in f.stem or key in _top_keys(f) for f in files)]
    if removed:
        lines += ["## Removed figures", "",
                  "These figures were quoted by earlier versions of this documentation without a committed "
                  "benchmark JSON file, so they are removed until their file is committed:", ""]
        lines += [f"* {text}: **removed** (no `results/bench/*.json`)" for text in removed] + [""]
    return "\n".join(lines)


with mkdocs_gen_files.open("performance.md", "w") as fh:
    fh.write(render())
