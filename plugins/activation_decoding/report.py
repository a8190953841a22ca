"""Markdown tables of a TruthfulQA sweep: the per-family selection and the alpha x layer grid.

    python -m harness_plugins.activation_decoding.report RESULTS.json [--task NAME]
    python -m harness_plugins.activation_decoding.report SAMPLES.jsonl     # re-aggregate a (partial) sample log (.jsonl or .jsonl.gz)
    python -m harness_plugins.activation_decoding.report SAMPLES.jsonl --length-control

Reads what the benchmark wrote (``details.selection`` and the per-setting metrics), or
re-aggregates the per-sample values of a ``--log-samples`` file with the same code.

``--length-control`` adds a control for the activation scores: -alpha * E(y_t) is summed over
an answer's tokens, so it also penalises long answers. The control scores every answer by
log p(answer) - beta * (number of tokens), from the logged log-probabilities, with beta chosen
on the same selection split; activation decoding should beat it to claim more than a length prior.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from harness.models.decoding_spec import DecodingSpec
from harness.textio import is_sample_log, read_log_lines
from harness_plugins.activation_decoding.selection import aggregate_settings, family
from harness_plugins.activation_decoding.stats import paired_difference
from harness_plugins.activation_decoding.truthfulqa import MCQuestion, mc_metrics

METRICS = ("mc1", "mc2", "mc3")
LENGTH_BETAS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


def from_sample_log(path: Path, select_metric: str = "mc2") -> tuple[dict[str, float], dict[str, float], dict[str, Any]]:
    values = [json.loads(line)["values"] for line in read_log_lines(path)]
    labels = list(dict.fromkeys(k.rsplit("/", 1)[0] for k in values[0] if "/" in k))
    res = aggregate_settings(values, labels, METRICS, select_metric, selection=True)
    return res.metrics, res.stderr, res.details


def length_control(path: Path, betas: tuple[float, ...] = LENGTH_BETAS, select_metric: str = "mc2") -> tuple[dict[str, float], dict[str, float], dict[str, Any]]:
    """MC metrics of log p(answer) - beta * n_tokens per beta, from a sample log's answer records,
    with the ``length`` family's beta chosen on fold 0 and reported on fold 1 (``best_length/...``)."""
    rows = [json.loads(line) for line in read_log_lines(path)]
    labels = [f"length,beta={b:g}" for b in betas]
    values = []
    for row in rows:
        item, answers = MCQuestion.from_doc(row["doc"]), row["log"]["answers"]
        v: dict[str, Any] = {"fold": row["doc"]["fold"]}
        for beta, label in zip(betas, labels):
            scores = {a: rec["logprob"] - beta * rec["n_tokens"] for a, rec in answers.items()}
            v.update({f"{label}/{m}": x for m, x in mc_metrics(scores, item).items()})
        v.update({f"greedy/{m}": x for m, x in mc_metrics({a: rec["logprob"] for a, rec in answers.items()}, item).items()})
        values.append(v)
    res = aggregate_settings(values, ["greedy", *labels], METRICS, select_metric, selection=True)
    res.details["values"] = values
    return res.metrics, res.stderr, res.details


def selection_table(metrics: dict[str, float], stderr: dict[str, float], details: dict[str, Any]) -> str:
    sel = details["selection"]
    lines = [
        f"Chosen by mean {sel['select_metric'].upper()} on the {sel['n_select']} even-indexed questions; "
        f"reported on the {sel['n_report']} odd-indexed ones (mean ± standard error).",
        "",
        "| method | chosen setting (of n) | select-split MC2 | MC1 | MC2 | MC3 |",
        "|---|---|---|---|---|---|",
    ]
    select_key = f"select_{sel['select_metric']}"
    for fam, info in sel["families"].items():
        cells = [f"{metrics[f'best_{fam}/{m}']:.3f} ± {stderr[f'best_{fam}/{m}']:.3f}" for m in METRICS]
        lines.append(f"| {fam} | `{info['chosen']}` ({info['n_candidates']}) | {info[select_key]:.3f} | " + " | ".join(cells) + " |")
    if any("vs_greedy" in info for info in sel["families"].values()):
        lines += ["", "Chosen setting minus greedy on the same report questions (paired; 95% bootstrap / t interval; "
                  "questions better / worse / equal):", "", "| method | " + " | ".join(f"Δ {m.upper()}" for m in METRICS) + " |",
                  "|---|" + "---|" * len(METRICS)]
        for fam, info in sel["families"].items():
            if fam != "greedy" and "vs_greedy" in info:
                lines.append(f"| {fam} | " + " | ".join(_paired_cell(info["vs_greedy"][m]) for m in METRICS) + " |")
    return "\n".join(lines)


def _paired_cell(p: dict[str, Any]) -> str:
    return (f"{p['mean']:+.3f} [{p['ci_low']:+.3f}, {p['ci_high']:+.3f}] / [{p['t_low']:+.3f}, {p['t_high']:+.3f}]; "
            f"{p['wins']}/{p['losses']}/{p['ties']}")


def grid_table(metrics: dict[str, float], method: str = "activation", metric: str = "mc2") -> str:
    """All questions: ``metric`` per (alpha, info_layer) for each final_norm value of ``method``."""
    rows: dict[tuple[str, bool], dict[str, float]] = {}
    alphas: list[str] = []
    for key, value in metrics.items():
        label, _, m = key.rpartition("/")
        if m != metric or family(label) != method or label.startswith("best_"):
            continue
        params = DecodingSpec.parse(label).kwargs  # the harness's one k=v parser (values as texts)
        layer_key = (params.get("layers", ""), params["info_layer"], params.get("final_norm") == "true")
        rows.setdefault(layer_key, {})[params["alpha"]] = value
        if params["alpha"] not in alphas:
            alphas.append(params["alpha"])
    alphas.sort(key=float)
    head = "| layers | info layer | final norm | " + " | ".join(f"α={a}" for a in alphas) + " |"
    lines = [head, "|" + "---|" * (3 + len(alphas))]
    for (bucket, layer, norm), by_alpha in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][2], int(kv[0][1]))):
        lines.append(f"| {bucket or '-'} | {layer} | {'yes' if norm else 'no'} | " + " | ".join(f"{by_alpha.get(a, float('nan')):.3f}" for a in alphas) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--task", default=None, help="task name inside a results file (default: the first with a selection)")
    parser.add_argument("--length-control", action="store_true", help="also the log p - beta * length control (sample logs only)")
    parser.add_argument("--json", type=Path, default=None, help="also write the selection (with the paired differences) to this JSON file")
    args = parser.parse_args()
    if is_sample_log(args.path):
        metrics, stderr, details = from_sample_log(args.path)
    else:
        doc = json.loads(args.path.read_text(encoding="utf-8"))
        task = args.task or next(t for t, d in doc["details"].items() if isinstance(d, dict) and "selection" in d)
        metrics, stderr, details = doc["results"][task], doc["stderr"][task], doc["details"][task]
    print(selection_table(metrics, stderr, details))
    report: dict[str, Any] = {"source": args.path.name, "selection": details["selection"],
                              "report_metrics": {k: v for k, v in metrics.items() if k.startswith("best_")},
                              "report_stderr": {k: v for k, v in stderr.items() if k.startswith("best_")}}
    greedy = [f"{m.upper()} {metrics[f'greedy/{m}']:.3f}" for m in METRICS if f"greedy/{m}" in metrics]
    print(f"\nAll questions, greedy: {', '.join(greedy)}\n")
    for method in ("activation", "activation_dola"):
        print(f"{method}: MC2 on all questions\n")
        print(grid_table(metrics, method))
        print()
    if args.length_control:
        if not is_sample_log(args.path):
            parser.error("--length-control needs a --log-samples .jsonl (or .jsonl.gz) file")
        lm, ls, ld = length_control(args.path)
        print("Length control: log p(answer) - beta * n_tokens\n")
        print(selection_table(lm, ls, ld))
        report["length_control"] = ld["selection"]
        # the chosen activation setting against the chosen length control, on the same report questions
        sample_values = [json.loads(line)["values"] for line in read_log_lines(args.path)]
        act, length = details["selection"]["families"]["activation"]["chosen"], ld["selection"]["families"]["length"]["chosen"]
        pairs = [(v[f"{act}/mc2"], w[f"{length}/mc2"]) for v, w in zip(sample_values, ld["values"]) if v["fold"] == 1]
        report["activation_vs_length_control"] = {"a": act, "b": length, "mc2": paired_difference(*zip(*pairs))}
        print(f"\n{act} minus {length}, MC2 on the report questions: {_paired_cell(report['activation_vs_length_control']['mc2'])}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
