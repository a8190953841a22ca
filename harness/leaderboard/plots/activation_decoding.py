"""Activation decoding: each metric against the sharpness weight α, one line per model.

Reads ``details.<task>.alpha_sweep`` (or ``sweep``): records ``{alpha, <metric>: value, ...}``,
optionally with ``info_layer`` and ``method`` fields that split lines, or a mapping α →
``{<metric>: value}``. One panel per metric (the task's reported metrics when the sweep
has them, else every numeric field).
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from harness.leaderboard.plots import Plot, PlotContext, model_colors, plain, subplot_grid
from harness.leaderboard.plots.shapes import MissingDetail, first_key, flatten, number, pick

if TYPE_CHECKING:  # pragma: no cover
    from harness.leaderboard.collect import Entry

SWEEP_KEYS = ("alpha_sweep", "sweep")
ALPHA_KEYS = ("alpha", "α")
SPLIT_KEYS = ("method", "info_layer", "layer")
NOT_METRICS = {*ALPHA_KEYS, *SPLIT_KEYS, "n", "n_samples", "count"}


def read_sweep(details: object) -> list[dict[str, object]]:
    _, sweep = first_key(details, SWEEP_KEYS)
    records = [r for r in flatten(sweep, ("alpha",), record_keys=ALPHA_KEYS) if number(pick(r, ALPHA_KEYS)) is not None]
    if not records:
        raise MissingDetail("the α sweep has no records with an 'alpha'")
    return records


def alpha_sweep(entries: list[Entry], ctx: PlotContext) -> list[Plot]:
    # (metric) -> (series label, row) -> [(alpha, value)]
    series: dict[str, dict[tuple[str, str], list[tuple[float, float]]]] = defaultdict(lambda: defaultdict(list))
    several_tasks = len({e.task for e in entries}) > 1
    for entry in entries:
        try:
            records = read_sweep(entry.details)
        except MissingDetail as err:
            ctx.leave_out(entry, str(err))
            continue
        numeric = {k for r in records for k, v in r.items() if k not in NOT_METRICS and number(v) is not None}
        metrics = sorted(numeric & set(entry.metrics)) or sorted(numeric)
        for rec in records:
            alpha = number(pick(rec, ALPHA_KEYS))
            split = [f"{k} {rec[k]}" for k in SPLIT_KEYS if k in rec]
            label = " · ".join([entry.row, *([entry.task] if several_tasks else []), *split])
            for metric in metrics:
                value = number(rec.get(metric))
                if value is not None and alpha is not None:
                    series[metric][(label, entry.row)].append((alpha, value))
    if not series:
        raise MissingDetail("no result has an α sweep in details.<task>.alpha_sweep")

    metrics = sorted(series)
    colors = model_colors([row for m in metrics for _, row in series[m]])
    fig, axes = subplot_grid(len(metrics), width=4.6, sharey=False)
    styles = ["-", "--", "-.", ":"]
    for ax, metric in zip(axes, metrics):
        seen_per_row: dict[str, int] = defaultdict(int)
        for (label, row), points in sorted(series[metric].items()):
            points.sort()
            style = styles[seen_per_row[row] % len(styles)]
            seen_per_row[row] += 1
            ax.plot([p[0] for p in points], [p[1] for p in points], style, marker="o", markersize=3, color=colors[row], label=plain(label))
        ax.set_title(plain(metric), fontsize=10)
        ax.set_xlabel("α (weight of the entropy penalty)")
        ax.grid(alpha=0.25)
    axes[0].legend(fontsize=7)
    fig.suptitle("Activation decoding: α sweep (α = 0 is plain decoding)", fontsize=11)
    rel = ctx.save(fig, f"{ctx.benchmark}-alpha-sweep")
    caption = "Each metric as the weight α of the in-context sharpness (entropy) penalty grows; α = 0 is the baseline."
    return [Plot(rel, "Activation decoding α sweep", caption, ctx.benchmark)]
