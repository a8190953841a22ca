"""How an LLM-usage mixture or group looks in ``harness view``: the estimate α̂ against the true
α (when the mixture was built with one) with its bootstrap interval, raw and calibrated."""

from __future__ import annotations

from typing import Any

from harness.hookspecs import hookimpl
from harness.viewer.blocks import Block, Fields, Table

BENCHMARKS = ("llm_usage",)


@hookimpl
def harness_view_sample(benchmark: str, task: str, record: dict[str, Any]) -> list[Block] | None:
    return view_sample(record) if benchmark in BENCHMARKS else None


def view_sample(record: dict[str, Any]) -> list[Block]:
    doc = record.get("doc") or {}
    v = record.get("values") or {}
    estimate = v.get("alpha", v.get("alpha_hat"))
    rows = [["raw", v.get("true_alpha"), estimate, v.get("ci_low"), v.get("ci_high"), v.get("error"),
             _covers(v.get("true_alpha"), v.get("ci_low"), v.get("ci_high"))]]
    if "corrected_alpha" in v:
        rows.append(["calibrated", v.get("true_alpha"), v.get("corrected_alpha"), v.get("corrected_ci_low"),
                     v.get("corrected_ci_high"), v.get("corrected_error"),
                     _covers(v.get("true_alpha"), v.get("corrected_ci_low"), v.get("corrected_ci_high"))])
    other = [(k, val) for k, val in v.items() if k in ("mle", "n_sentences", "n_documents", "n_bootstrap", "covered")]
    return [
        Fields("Mixture" if "true_alpha" in v else "Group", list(doc.items())),
        Table("α̂ vs α (95% bootstrap interval)", ["estimate", "true α", "α̂", "interval low", "interval high", "error", "α inside"], rows),
        Fields("Fit", other + list((record.get("log") or {}).items())),
    ]


def _covers(alpha: Any, low: Any, high: Any) -> bool | None:
    if not all(isinstance(x, (int, float)) for x in (alpha, low, high)):
        return None
    return bool(low <= alpha <= high)
