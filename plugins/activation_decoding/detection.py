"""Hallucination detection with the in-context entropy (Chen et al., 2024, Sec. "sharpness as alerts").

The signal of an answer y_1..y_m after a prompt is the in-context entropy E(y_t) of its tokens
(E over the info layer's states of all prompt + answer positions, as in MC scoring; see
:mod:`harness_plugins.activation_decoding.mc_scorer`). **Low entropy = sharp = predicted true**, so
every signal below is oriented so that a *higher* value means "predicted true", and AUROC > 0.5
means true answers are sharper than false ones:

* ``entropy_sum``  = -sum_t E(y_t): the quantity MC scoring subtracts (alpha * it); faithful to
  the decoding rule, but it grows with the answer's length, so it is partly a length prior;
* ``entropy_mean`` = -mean_t E(y_t): the robust, length-free version;
* controls: ``logprob_mean`` (mean token log-probability, the plain confidence baseline) and
  ``length`` (-number of tokens: shorter predicted true), which the entropy must beat to be
  more than a length or confidence signal.

E is read back from what the MC scorer logs: an ``activation`` setting with alpha > 0 scores
sum_t [log p(y_t) - alpha E(y_t)], so sum_t E(y_t) = (logprob - score) / alpha exactly (one
setting per (info_layer, final_norm), the one with the largest alpha). True / false: TruthfulQA's
correct / incorrect answers; open QA: lenient exact match of the generated answer.
AUROC is :func:`harness_plugins.activation_decoding.stats.auroc`; its interval resamples questions.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

from harness_plugins.activation_decoding.settings import MethodSetting
from harness_plugins.activation_decoding.stats import bootstrap_auroc

SIGNALS = ("entropy_sum", "entropy_mean", "logprob_mean", "length")


def entropy_key(setting: MethodSetting) -> str:
    return f"info_layer={setting.info_layer}" + (",final_norm=true" if setting.final_norm else "")


def entropy_settings(labels: Iterable[str]) -> dict[str, str]:
    """For each (info_layer, final_norm), the ``activation`` label with the largest alpha > 0."""
    best: dict[str, MethodSetting] = {}
    for label in labels:
        st = MethodSetting.parse(label)
        if st.method == "activation" and st.alpha > 0:
            key = entropy_key(st)
            if key not in best or st.alpha > best[key].alpha:
                best[key] = st
    return {key: st.label for key, st in best.items()}


def entropy_sums(answer_log: dict[str, Any], settings: dict[str, str]) -> dict[str, float]:
    """sum_t E(y_t) of one answer per entropy key, from its logged log-probability and scores."""
    out = {}
    for key, label in settings.items():
        alpha = MethodSetting.parse(label).alpha
        out[key] = (answer_log["logprob"] - answer_log["scores"][label]) / alpha
    return out


def signal_value(signal: str, entropy_sum: float, logprob: float, n_tokens: int) -> float:
    """The oriented signal (higher = predicted true); see the module docstring."""
    if signal == "entropy_sum":
        return -entropy_sum
    if signal == "entropy_mean":
        return -entropy_sum / n_tokens
    if signal == "logprob_mean":
        return logprob / n_tokens
    if signal == "length":
        return -float(n_tokens)
    raise ValueError(f"unknown signal {signal!r}; expected one of {SIGNALS}")


def detection_report(records: Sequence[dict[str, Any]], keys: Sequence[str], n_bootstrap: int = 1000, seed: int = 0) -> dict[str, Any]:
    """AUROC with a question-bootstrap interval per entropy key and signal.

    ``records``: one per scored answer, ``{"question", "true", "logprob", "n_tokens", "entropy": {key: sum E}}``.
    """
    records = [r for r in records if r.get("n_tokens")]
    out: dict[str, Any] = {"n_answers": len(records), "orientation": "higher = predicted true (low entropy = sharp = true)"}
    labels = [int(bool(r["true"])) for r in records]
    groups = [r["question"] for r in records]
    for key in keys:
        out[key] = {}
        for signal in SIGNALS:
            values = [signal_value(signal, r["entropy"][key], r["logprob"], r["n_tokens"]) for r in records]
            out[key][signal] = bootstrap_auroc(values, labels, groups, n_bootstrap=n_bootstrap, seed=seed)
    return out


def auroc_metrics(report: dict[str, Any]) -> dict[str, float]:
    """Flat ``auroc/KEY/SIGNAL`` metrics of a :func:`detection_report`."""
    return {f"auroc/{key}/{signal}": res["auroc"] for key, per in report.items() if isinstance(per, dict)
            for signal, res in per.items() if not math.isnan(res["auroc"])}


def truthfulqa_records(rows: Iterable[dict[str, Any]], settings: dict[str, str]) -> list[dict[str, Any]]:
    """Answer records from sample-log rows (``doc`` + ``log.answers``); uses the logged ``entropy``
    and ``true`` fields when present, else derives them from the scores and the doc."""
    out = []
    for row in rows:
        doc, answers = row["doc"], row["log"]["answers"]
        correct = set(doc["correct"])
        for answer, rec in answers.items():
            if answer not in correct and answer not in doc["incorrect"]:
                continue  # an MC1-only distractor: not in the true/false answer sets
            entropy = rec.get("entropy") or entropy_sums(rec, settings)
            out.append({"question": doc["id"], "true": rec.get("true", answer in correct), "logprob": rec["logprob"],
                        "n_tokens": rec["n_tokens"], "entropy": entropy})
    return out


def main() -> None:
    """``python -m harness_plugins.activation_decoding.detection SAMPLES.jsonl [--out REPORT.json]``."""
    import argparse
    import json
    from pathlib import Path

    parser = argparse.ArgumentParser(description="AUROC of the in-context entropy for true vs false TruthfulQA answers, from a sample log")
    parser.add_argument("path", type=Path)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    from harness.textio import read_log_lines

    rows = [json.loads(line) for line in read_log_lines(args.path)]
    settings = entropy_settings(k.rsplit("/", 1)[0] for k in rows[0]["values"] if "/" in k)
    report = detection_report(truthfulqa_records(rows, settings), sorted(settings), args.bootstrap, args.seed)
    report.update(source=args.path.name, settings=settings, n_questions=len(rows))
    for key in sorted(settings):
        cells = ", ".join(f"{s} {r['auroc']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]" for s, r in report[key].items())
        print(f"{key}: {cells}")
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
