"""Activation decoding: each metric against the sharpness weight α, one line per model and setting.

Reads ``details.<task>.settings`` as the activation-decoding benchmarks write it: a mapping from a
decoding spec (``"activation,alpha=0.5,info_layer=16"``, ``"greedy"``, ``"dola,layers=low"``)
to that setting's metrics. Settings with an ``alpha`` become lines over α (one per method,
info layer and DoLa bucket); settings without one (greedy, DoLa) are drawn as horizontal
reference lines.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from harness.leaderboard.plots import Plot, PlotContext, model_colors, plain, subplot_grid
from harness.leaderboard.plots.shapes import MissingDetail, first_key, number

if TYPE_CHECKING:  # pragma: no cover
    from harness.leaderboard.collect import Entry

SETTING_FIELDS = ("method", "info_layer", "layers", "final_norm")
NOT_METRICS = {"alpha", *SETTING_FIELDS}


def parse_setting(label: str) -> dict[str, Any]:
    """``"activation,alpha=0.5,info_layer=16"`` -> ``{"method": "activation", "alpha": "0.5", "info_layer": "16"}``."""
    name, *params = [p.strip() for p in str(label).split(",")]
    out: dict[str, Any] = {"method": name}
    for param in params:
        key, eq, value = param.partition("=")
        if eq and key:
            out[key.strip()] = value.strip()
    return out


def read_sweep(details: object) -> list[dict[str, Any]]:
    """Records with the setting's fields (``alpha`` absent for baselines) and its metric values."""
    _, found = first_key(details, ("settings",))
    if not isinstance(found, dict):
        raise MissingDetail("'settings' is not a mapping from setting to metrics")
    records = [{**parse_setting(label), **m} for label, m in found.items() if isinstance(m, dict)]
    if not any(number(r.get("alpha")) is not None for r in records):
        raise MissingDetail("'settings' has no setting with an alpha")
    return records


def _metric_names(records: list[dict[str, Any]], reported: dict[str, Any]) -> list[str]:
    numeric = {k for r in records for k, v in r.items() if k not in NOT_METRICS and number(v) is not None}
    bases = {name.rpartition("/")[2] for name in reported}
    return sorted(numeric & bases) or sorted(numeric)


def alpha_sweep(entries: list[Entry], ctx: PlotContext) -> list[Plot]:
    lines: dict[str, dict[tuple[str, str], list[tuple[float, float]]]] = defaultdict(lambda: defaultdict(list))
    baselines: dict[str, dict[tuple[str, str, str], float]] = defaultdict(dict)
    several_tasks = len({e.task for e in entries}) > 1
    for entry in entries:
        try:
            records = read_sweep(entry.details)
        except MissingDetail as err:
            ctx.leave_out(entry, str(err))
            continue
        for rec in records:
            alpha = number(rec.get("alpha"))
            setting = [f"{k}={rec[k]}" if k != "method" else str(rec[k]) for k in SETTING_FIELDS if k in rec]
            label = " · ".join([entry.row, *([entry.task] if several_tasks else []), *setting])
            for metric in _metric_names(records, entry.metrics):
                value = number(rec.get(metric))
                if value is None:
                    continue
                if alpha is None:
                    baselines[metric][(label, entry.row, str(rec.get("method", "")))] = value
                else:
                    lines[metric][(label, entry.row)].append((alpha, value))
    if not lines:
        raise MissingDetail("no result has settings with an alpha in details.<task>.settings")

    metrics = sorted(lines)
    colors = model_colors([key[1] for m in metrics for key in [*lines[m], *baselines[m]]])
    fig, axes = subplot_grid(len(metrics), width=4.8, height=3.4, sharey=False)
    styles = ["-", "-.", (0, (5, 1)), (0, (3, 1, 1, 1))]
    for ax, metric in zip(axes, metrics):
        seen: dict[str, int] = defaultdict(int)
        for (label, row), points in sorted(lines[metric].items()):
            points.sort()
            style = styles[seen[row] % len(styles)]
            seen[row] += 1
            ax.plot([p[0] for p in points], [p[1] for p in points], linestyle=style, marker="o", markersize=3, color=colors[row], label=plain(label))
        for (label, row, method), value in sorted(baselines[metric].items()):
            ax.axhline(value, color=colors[row], linewidth=1.0, linestyle="--" if method == "greedy" else ":", alpha=0.8, label=plain(label))
        alphas = [a for pts in lines[metric].values() for a, _ in pts]
        if min(alphas) >= 0:
            ax.set_xlim(-0.04 * max(max(alphas), 0.1), 1.04 * max(max(alphas), 0.1))  # α = 0 (plain decoding) in view
        ax.set_title(plain(metric), fontsize=10)
        ax.set_xlabel("α (weight of the entropy penalty)")
        ax.grid(alpha=0.25)
    fig.legend(*axes[0].get_legend_handles_labels(), fontsize=7, loc="outside lower center", ncols=2)
    fig.suptitle("Activation decoding: α sweep (flat lines: settings without α)", fontsize=11)
    rel = ctx.save(fig, f"{ctx.benchmark}-alpha-sweep")
    caption = (
        "Each metric as the weight α of the in-context sharpness (entropy) penalty grows, per model and setting; "
        "horizontal lines are the settings without α (dashed: greedy; dotted: others such as DoLa)."
    )
    return [Plot(rel, "Activation decoding α sweep", caption, ctx.benchmark)]
