"""CausalGym's metrics, exactly as defined in the paper.

For a pair with base label ``y_b`` and source label ``y_s`` (first tokens), read at the base's
last position::

    effect = [log p_int(y_s) − log p_int(y_b)] − [log p_base(y_s) − log p_base(y_b)]

Mean over eval pairs gives one number per (task, method, layer, position); the summary of a
method is the max over positions, then the mean over layers, then the mean over tasks.
Interchange-intervention accuracy (IIA) is the fraction of pairs whose intervened output
prefers ``y_s`` to ``y_b``; selectivity is effect minus the effect on the control task
(labels " dog"/" give"), aggregated the same way.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Iterable, Sequence

import torch


def log_odds(logits: torch.Tensor, first: Sequence[int] | torch.Tensor, second: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """log p(first) − log p(second) per row of ``logits`` (B, V)."""
    lp = torch.log_softmax(logits.float(), dim=-1)
    rows = torch.arange(lp.shape[0], device=lp.device)
    first = torch.as_tensor(first, device=lp.device)
    second = torch.as_tensor(second, device=lp.device)
    return lp[rows, first] - lp[rows, second]


def logodds_effect(intervened: torch.Tensor, clean: torch.Tensor, y_base: Sequence[int] | torch.Tensor, y_src: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """Per-pair effect (B,): change in log-odds of the source label over the base label."""
    return log_odds(intervened, y_src, y_base) - log_odds(clean, y_src, y_base)


def interchange_accuracy(intervened: torch.Tensor, y_base: Sequence[int] | torch.Tensor, y_src: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """Per-pair success (B,) of the intervention: the source label now beats the base label."""
    return log_odds(intervened, y_src, y_base) > 0


def prefers(logits: torch.Tensor, correct: Sequence[int], other: Sequence[int]) -> torch.Tensor:
    """Per-example (B,) whether the model ranks the correct label above the other one."""
    return log_odds(logits, correct, other) > 0


def summarize(cells: Iterable[dict[str, Any]], key: str) -> dict[str, Any]:
    """Paper aggregation of ``key`` over cells {task, method, site, position, key}.

    Returns ``{"by_method": {m: mean over tasks}, "by_task": {task: {m: value}},
    "curves": {task: {m: {site: max over positions}}}}``; cells with ``key`` None are ignored.
    """
    best: dict[tuple[str, str, int], float] = {}
    for cell in cells:
        value = cell.get(key)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        k = (cell["task"], cell["method"], int(cell["site"]))
        best[k] = max(best.get(k, -math.inf), float(value))
    curves: dict[str, dict[str, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    for (task, method, site), value in best.items():
        curves[task][method][site] = value
    by_task = {t: {m: sum(c.values()) / len(c) for m, c in ms.items()} for t, ms in curves.items()}
    methods = sorted({m for ms in by_task.values() for m in ms})
    by_method = {}
    for m in methods:
        vals = [ms[m] for ms in by_task.values() if m in ms]
        by_method[m] = sum(vals) / len(vals)
    return {
        "by_method": by_method,
        "by_task": by_task,
        "curves": {t: {m: dict(sorted(c.items())) for m, c in ms.items()} for t, ms in curves.items()},
    }
