"""Aggregate per-setting metrics and choose each method's setting on one split, report on another.

Samples carry a ``fold``: 0 = selection split, 1 = report split (alternating question index,
which balances TruthfulQA's category-ordered files). For every method family (greedy, dola,
activation, activation_dola) the setting with the highest mean ``select_metric`` on fold 0 is
chosen (ties: the earlier setting), and all its metrics are reported on fold 1 only, so the
reported number never saw the data it was tuned on.
"""

from __future__ import annotations

from typing import Any, Sequence

from harness.benchmark import TaskResult, mean_and_stderr
from harness_plugins.activation_decoding.stats import paired_difference

#: The setting every chosen one is compared with.
BASELINE = "greedy"


def family(label: str) -> str:
    return label.split(",", 1)[0]


def aggregate_settings(
    values: Sequence[dict[str, Any]],
    labels: Sequence[str],
    metrics: Sequence[str],
    select_metric: str,
    selection: bool,
    seed: int = 0,
) -> TaskResult:
    """Metrics ``LABEL/METRIC`` over all samples, the first label's as plain ``METRIC``, and
    with ``selection`` the per-family ``best_FAMILY/METRIC`` on the report split, each with its
    paired difference against greedy there (``vs_greedy``: mean, bootstrap and t intervals,
    wins and losses), so a gain is never stated without its interval."""
    if select_metric not in metrics:
        raise ValueError(f"select_metric {select_metric!r} is not one of {list(metrics)}")
    out, err = {}, {}
    table: dict[str, dict[str, float]] = {}
    for label in labels:
        row = {}
        for m in metrics:
            mean, se = mean_and_stderr([float(v[f"{label}/{m}"]) for v in values])
            out[f"{label}/{m}"], err[f"{label}/{m}"] = mean, se
            row[m] = mean
        table[label] = row
    if labels:
        for m in metrics:
            out[m], err[m] = out[f"{labels[0]}/{m}"], err[f"{labels[0]}/{m}"]
    details: dict[str, Any] = {"settings": table, "primary": labels[0] if labels else None}
    if selection:
        select = [v for v in values if v.get("fold") == 0]
        report = [v for v in values if v.get("fold") == 1]
        if not select or not report:
            raise ValueError("selection needs samples in both folds (at least 2 samples)")
        chosen_by_family: dict[str, Any] = {}
        for fam in dict.fromkeys(family(lab) for lab in labels):
            candidates = [lab for lab in labels if family(lab) == fam]
            scored = [(mean_and_stderr([float(v[f"{lab}/{select_metric}"]) for v in select])[0], -i, lab) for i, lab in enumerate(candidates)]
            best_score, _, best = max(scored)
            report_row = {}
            for m in metrics:
                mean, se = mean_and_stderr([float(v[f"{best}/{m}"]) for v in report])
                out[f"best_{fam}/{m}"], err[f"best_{fam}/{m}"] = mean, se
                report_row[m] = mean
            chosen_by_family[fam] = {
                "chosen": best,
                f"select_{select_metric}": best_score,
                "n_candidates": len(candidates),
                "report": report_row,
            }
            if BASELINE in labels:  # the chosen setting against greedy on the same report questions
                chosen_by_family[fam]["vs_greedy"] = {
                    m: paired_difference([float(v[f"{best}/{m}"]) for v in report], [float(v[f"{BASELINE}/{m}"]) for v in report], seed=seed)
                    for m in metrics
                }
        details["selection"] = {"select_metric": select_metric, "n_select": len(select), "n_report": len(report), "families": chosen_by_family}
    return TaskResult(metrics=out, stderr=err, n_samples=len(values), details=details)
