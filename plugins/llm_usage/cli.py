"""``harness llm-usage fit | estimate | validate | generate`` (added through ``harness_add_commands``)."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Callable

EPILOG = """examples:
  harness llm-usage fit --human human.parquet --ai ai.parquet --out table.csv --calibrate
  harness llm-usage estimate --table table.csv --corpus papers.jsonl --group-by month
  harness llm-usage validate --table table.csv --human heldout_h.txt --ai heldout_a.jsonl --alphas 0,0.05,0.1,0.25
  harness llm-usage validate --table table.csv --mixture mix_0.1.parquet=0.1
  harness llm-usage generate --human human.txt --model hf --model-args pretrained=smollm2-135m --out ai.jsonl
"""


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    top = subparsers.add_parser(
        "llm-usage", help="estimate the fraction of LLM-modified sentences in a corpus (Liang et al. 2024)",
        description="Distributional LLM-usage estimation (Liang et al. 2024): fit human/AI word-occurrence tables, "
                    "estimate the AI-modified fraction alpha of a corpus with a bootstrap interval, validate on known mixtures, "
                    "and generate a reference AI corpus with any model adapter.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = top.add_subparsers(dest="llm_usage_command", metavar="{fit,estimate,validate,generate}")
    top.set_defaults(func=lambda args, pm: _usage(top))

    fit = sub.add_parser("fit", help="fit the word table from a human and an AI corpus")
    fit.add_argument("--human", required=True, type=Path, help="human corpus (.txt/.jsonl/.csv/.parquet)")
    fit.add_argument("--ai", required=True, type=Path, help="AI corpus (same formats)")
    fit.add_argument("--out", required=True, type=Path, help="word table to write (.csv or .parquet)")
    fit.add_argument("--human-column", default=None, help="text column of the human corpus")
    fit.add_argument("--ai-column", default=None, help="text column of the AI corpus")
    fit.add_argument("--min-human-count", type=int, default=5, help="a word needs at least this many human sentences (5)")
    fit.add_argument("--min-ai-count", type=int, default=3, help="... and this many AI sentences (3)")
    fit.add_argument("--words", type=Path, default=None, help="restrict the vocabulary to this word list (one per line)")
    fit.add_argument("--calibrate", action="store_true", help="also write TABLE.calibration.json (bias correction by cross-fitting)")
    fit.add_argument("--folds", type=int, default=5, help="cross-fitting folds for --calibrate (5)")
    fit.add_argument("--seed", type=int, default=0)
    fit.set_defaults(func=_guard(cmd_fit))

    est = sub.add_parser("estimate", help="estimate alpha (and its bootstrap interval) of a corpus, per group")
    est.add_argument("--table", required=True, type=Path, help="word table written by `fit` (.csv or .parquet)")
    est.add_argument("--corpus", required=True, type=Path, help="corpus to estimate (.txt/.jsonl/.csv/.parquet, or sotu:YEAR)")
    est.add_argument("--text-column", default=None, help="text column (default: 'text' or the only column)")
    est.add_argument("--group-by", default=None, metavar="COLUMN", help="one estimate per value of this column (e.g. month)")
    _estimation_options(est)
    est.add_argument("--json", action="store_true", help="print JSON instead of a table")
    est.set_defaults(func=_guard(cmd_estimate))

    val = sub.add_parser("validate", help="estimate alpha on mixtures with known alpha and report the error")
    val.add_argument("--table", required=True, type=Path, help="word table written by `fit`")
    val.add_argument("--human", type=Path, default=None, help="held-out human corpus (not the one the table was fitted on)")
    val.add_argument("--ai", type=Path, default=None, help="held-out AI corpus")
    val.add_argument("--human-column", default=None)
    val.add_argument("--ai-column", default=None)
    val.add_argument("--alphas", default="0,0.05,0.1,0.15,0.2,0.25", help="comma-separated true fractions")
    val.add_argument("--size", type=int, default=None, help="sentences per mixture (default: the largest possible)")
    val.add_argument("--mixture", action="append", default=[], metavar="FILE=ALPHA", help="a pre-built mixture with its known alpha (repeatable)")
    _estimation_options(val)
    val.add_argument("--json", action="store_true")
    val.set_defaults(func=_guard(cmd_validate))

    gen = sub.add_parser("generate", help="build an AI corpus from a human one: outline, then expand (two-stage)")
    gen.add_argument("--human", required=True, type=Path)
    gen.add_argument("--text-column", default=None)
    gen.add_argument("--out", required=True, type=Path, help="JSONL to write (appends; reruns resume)")
    gen.add_argument("--model", default="hf", help="model adapter (default: hf)")
    gen.add_argument("--model-args", default="pretrained=smollm2-135m", help="k=v,... (default: pretrained=smollm2-135m)")
    gen.add_argument("--max-docs", type=int, default=None)
    gen.add_argument("--min-chars", type=int, default=200, help="skip documents shorter than this (200)")
    gen.add_argument("--batch-size", type=int, default=8)
    gen.add_argument("--outline-prompt", default=None, help="template with {text}, or @FILE")
    gen.add_argument("--expand-prompt", default=None, help="template with {outline}, or @FILE")
    gen.add_argument("--outline-tokens", type=int, default=96)
    gen.add_argument("--expand-tokens", type=int, default=192)
    gen.add_argument("--chat", choices=["auto", "on", "off"], default="auto", help="wrap prompts in the tokenizer's chat template")
    gen.add_argument("--sample", action="store_true", help="sample (temperature) instead of greedy decoding")
    gen.add_argument("--temperature", type=float, default=1.0)
    gen.add_argument("--top-p", type=float, default=1.0)
    gen.add_argument("--max-doc-chars", type=int, default=2000, help="cut longer documents (at a sentence end) before outlining")
    gen.add_argument("--seed", type=int, default=0)
    gen.set_defaults(func=_guard(cmd_generate))


def _estimation_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap re-fits (1000; 0 = plain MLE)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--calibration", type=Path, default=None,
                        help="calibration JSON for the bias-corrected columns (default: TABLE.calibration.json when present)")
    parser.add_argument("--no-calibration", action="store_true", help="report the plain estimate only")


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _guard(fn: Callable[..., int]) -> Callable[..., int]:
    """Turn the plugin's input errors into one clear line and exit status 2."""

    def run(args: argparse.Namespace, pm: Any) -> int:
        from harness_plugins.llm_usage.corpus import CorpusError
        from harness_plugins.llm_usage.table import TableError

        try:
            return fn(args, pm)
        except (CorpusError, TableError, ValueError) as err:
            print(f"harness llm-usage {args.llm_usage_command}: error: {err}", file=sys.stderr)
            return 2

    return run


# --- commands ---------------------------------------------------------------------------------


def cmd_fit(args: argparse.Namespace, pm: Any) -> int:
    from harness_plugins.llm_usage.calibration import calibrate, calibration_path
    from harness_plugins.llm_usage.corpus import iter_chunks
    from harness_plugins.llm_usage.fit import WordDistribution
    from harness_plugins.llm_usage.table import read_word_list

    restrict = read_word_list(args.words) if args.words else None
    options = dict(min_human_count=args.min_human_count, min_ai_count=args.min_ai_count, restrict_to=restrict)
    dropped = {"human": Counter(), "ai": Counter()}
    dist = WordDistribution(**options).fit(iter_chunks(args.human, args.human_column, dropped=dropped["human"]),
                                           iter_chunks(args.ai, args.ai_column, dropped=dropped["ai"]))
    table = dist.table_
    table.save(args.out)
    info = table.info
    print(f"fitted {len(table)} words from {info['n_human_sentences']} human and {info['n_ai_sentences']} AI sentences -> {args.out}")
    print(dropped_line(dropped))
    if info["dropped_infinite_log_odds"]:
        print(f"dropped (infinite log-odds): {', '.join(info['dropped_infinite_log_odds'])}")
    if args.calibrate:
        cal = calibrate(lambda: iter_chunks(args.human, args.human_column), lambda: iter_chunks(args.ai, args.ai_column),
                        folds=args.folds, seed=args.seed, **options)
        path = cal.save(calibration_path(args.out))
        bias = ", ".join(f"{a:g}: {cal.error_at(a):+.3f}" for a in (0.0, 0.1, 0.25, 0.5))
        print(f"calibration ({args.folds}-fold cross-fit) -> {path}; plain estimator's bias at alpha = {bias}")
    return 0


def dropped_line(dropped: dict[str, Counter]) -> str:
    """One line: how many sentences of each corpus were left out, and why."""
    from harness_plugins.llm_usage.text import DROP_REASONS

    parts = []
    for name, counts in dropped.items():
        why = ", ".join(f"{counts.get(k, 0)} with {text}" for k, text in DROP_REASONS.items())
        parts.append(f"{sum(counts.values())} {name} ({why})")
    return ("dropped sentences: " + "; ".join(parts)
            + " after lower-casing and removing pure-digit tokens; a sentence needs at least two words (as in the paper's code)")


def _load_calibration(args: argparse.Namespace) -> Any:
    from harness_plugins.llm_usage.calibration import Calibration, calibration_path

    if args.no_calibration:
        return None
    if args.calibration is not None:
        return Calibration.load(args.calibration)
    default = calibration_path(args.table)
    return Calibration.load(default) if default.is_file() else None


def cmd_estimate(args: argparse.Namespace, pm: Any) -> int:
    import numpy as np

    from harness_plugins.llm_usage.corpus import iter_chunks
    from harness_plugins.llm_usage.likelihood import log_ratios
    from harness_plugins.llm_usage.mle import estimate_alpha
    from harness_plugins.llm_usage.table import WordTable

    table = WordTable.load(args.table)
    calibration = _load_calibration(args)
    chunks = iter_chunks(args.corpus, args.text_column, args.group_by)
    if args.group_by:
        d, groups = log_ratios(table, chunks, with_groups=True)
        labels = np.asarray(groups, dtype=object)
        order = sorted(set(groups))
        parts = [(g, d[labels == g]) for g in order]
    else:
        parts = [("all", log_ratios(table, chunks))]
    rows = []
    for group, values in parts:
        est = estimate_alpha(values, n_bootstrap=args.bootstrap, seed=args.seed)
        row = {"group": group, **est.as_dict()}
        if calibration is not None:
            cor = calibration.correct_estimate(est)
            row.update(corrected_alpha=cor.alpha, corrected_ci_low=cor.ci_low, corrected_ci_high=cor.ci_high)
        rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    header = f"{'group':<20} {'sentences':>9}  {'alpha':>6}  {'95% interval':<17}"
    if calibration is not None:
        header += f"  {'corrected':>9}  {'interval':<17}"
    print(header)
    for r in rows:
        line = f"{str(r['group'])[:20]:<20} {r['n_sentences']:>9}  {r['alpha']:>6.4f}  [{r['ci_low']:.4f}, {r['ci_high']:.4f}]"
        if calibration is not None:
            line += f"  {r['corrected_alpha']:>9.4f}  [{r['corrected_ci_low']:.4f}, {r['corrected_ci_high']:.4f}]"
        print(line)
    return 0


def parse_alphas(text: str) -> list[float]:
    try:
        alphas = [float(a) for a in text.split(",") if a.strip()]
    except ValueError:
        raise ValueError(f"--alphas: expected comma-separated numbers in [0, 1], got {text!r}") from None
    if not alphas or not all(0 <= a <= 1 for a in alphas):
        raise ValueError(f"--alphas: expected comma-separated numbers in [0, 1], got {text!r}")
    return alphas


def cmd_validate(args: argparse.Namespace, pm: Any) -> int:
    from harness_plugins.llm_usage.corpus import iter_chunks
    from harness_plugins.llm_usage.likelihood import log_ratios
    from harness_plugins.llm_usage.table import WordTable
    from harness_plugins.llm_usage.validation import estimate_mixture, summarise, validate_mixtures

    table = WordTable.load(args.table)
    calibration = _load_calibration(args)
    results, labels = [], []
    for spec in args.mixture:
        path, sep, alpha = spec.rpartition("=")
        if not sep or not path:
            raise ValueError(f"--mixture: expected FILE=ALPHA, got {spec!r}")
        true_alpha = parse_alphas(alpha)[0]
        results.append(estimate_mixture(log_ratios(table, iter_chunks(path)), true_alpha, args.bootstrap, args.seed, calibration))
        labels.append(Path(path).name)
    if args.human or args.ai:
        if not (args.human and args.ai):
            raise ValueError("--human and --ai go together (held-out corpora to draw mixtures from)")
        d_human = log_ratios(table, iter_chunks(args.human, args.human_column))
        d_ai = log_ratios(table, iter_chunks(args.ai, args.ai_column))
        drawn = validate_mixtures(d_human, d_ai, parse_alphas(args.alphas), args.size, args.bootstrap, args.seed, calibration)
        results.extend(drawn)
        labels.extend(f"mixture n={r.estimate.n_sentences}" for r in drawn)
    if not results:
        raise ValueError("nothing to validate: give --human and --ai (held-out corpora), or --mixture FILE=ALPHA")
    summary = summarise(results)
    if args.json:
        print(json.dumps({"mixtures": [{"source": s, **r.as_dict()} for s, r in zip(labels, results)], "summary": summary}, indent=2))
        return 0
    corrected = calibration is not None
    print(f"{'source':<36} {'true':>6} {'alpha':>6} {'95% interval':<17} {'error':>7}" + (f" {'corrected':>9} {'interval':<17} {'error':>7}" if corrected else ""))
    for s, r in zip(labels, results):
        e = r.estimate
        line = f"{s[:36]:<36} {r.true_alpha:>6.3f} {e.alpha:>6.4f} [{e.ci_low:.4f}, {e.ci_high:.4f}] {r.error:>+7.4f}"
        if corrected:
            c = r.corrected
            line += f" {c.alpha:>9.4f} [{c.ci_low:.4f}, {c.ci_high:.4f}] {r.corrected_error:>+7.4f}"
        print(line)
    print("summary: " + ", ".join(f"{k}={v:.4f}" for k, v in summary.items()))
    return 0


def _prompt(value: str | None, default: str) -> str:
    if value is None:
        return default
    if value.startswith("@"):
        return Path(value[1:]).read_text(encoding="utf-8")
    return value


def cmd_generate(args: argparse.Namespace, pm: Any) -> int:
    from harness.options import split_kv
    from harness_plugins.llm_usage.corpus import iter_documents
    from harness_plugins.llm_usage.generate import EXPAND_PROMPT, OUTLINE_PROMPT, GenerationSettings, generate_corpus

    settings = GenerationSettings(
        outline_prompt=_prompt(args.outline_prompt, OUTLINE_PROMPT), expand_prompt=_prompt(args.expand_prompt, EXPAND_PROMPT),
        outline_tokens=args.outline_tokens, expand_tokens=args.expand_tokens, batch_size=args.batch_size,
        do_sample=args.sample, temperature=args.temperature, top_p=args.top_p, seed=args.seed, chat=args.chat,
        max_doc_chars=args.max_doc_chars,
    )
    adapter = load_adapter(args.model, dict(split_kv(args.model_args, "--model-args")), pm)
    out = generate_corpus(adapter, iter_documents(args.human, args.text_column), args.out, settings,
                          max_docs=args.max_docs, min_chars=args.min_chars, progress=True)
    n = sum(1 for _ in out.open(encoding="utf-8"))
    print(f"{n} generated documents in {out}")
    return 0


def load_adapter(model: str, model_args: dict[str, Any], pm: Any) -> Any:
    """A model adapter by registered name, as ``harness run --model`` builds it (arguments typed
    by its signature, with the registered decoding strategies so ``decoding=NAME`` works here too)."""
    from harness.models.args import bind_model_args

    registry = pm.registry()
    if model not in registry.models:
        raise ValueError(f"unknown model adapter {model!r} (registered: {', '.join(sorted(registry.models)) or 'none'})")
    factory = registry.models[model].load()
    return factory(**bind_model_args(model, factory, model_args, registry.decoders)).use_decoders(registry.decoders)
