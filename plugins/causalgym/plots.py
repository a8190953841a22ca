"""CausalGym: log-odds per layer, one line per method, one panel per model and task.

Reads ``details.<task>.curves`` as the CausalGym benchmark writes it: CausalGym task → method →
layer (site) → log-odds already maximised over token positions. Following the paper's summary,
a layer's value is then the mean over the CausalGym tasks the harness task holds.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from harness.leaderboard.plots import Plot, PlotContext, model_colors, plain, subplot_grid
from harness.leaderboard.plots.shapes import MissingDetail, first_key, number, sort_key

if TYPE_CHECKING:  # pragma: no cover
    from harness.leaderboard.collect import Entry


def read_curves(details: object) -> dict[tuple[str, float], float]:
    """``(method, layer) -> log-odds`` of one result, averaged over the CausalGym tasks."""
    _, curves = first_key(details, ("curves",))
    if not isinstance(curves, dict):
        raise MissingDetail("'curves' is not a mapping task -> method -> layer -> log-odds")
    per_layer: dict[tuple[str, float], list[float]] = defaultdict(list)
    for methods in curves.values():
        for method, layers in (methods.items() if isinstance(methods, dict) else ()):
            for layer, value in (layers.items() if isinstance(layers, dict) else ()):
                x, y = number(layer), number(value)
                if x is not None and y is not None:
                    per_layer[(str(method), x)].append(y)
    if not per_layer:
        raise MissingDetail("'curves' has no (task, method, layer, log-odds) values")
    return {k: sum(v) / len(v) for k, v in per_layer.items()}


def layer_curves(entries: list[Entry], ctx: PlotContext) -> list[Plot]:
    # One panel per model and task: tasks of one benchmark may sweep different layers, methods
    # and CausalGym tasks, so averaging them into one curve would mix unlike things.
    curves: dict[str, dict[str, dict[float, list[float]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for entry in entries:
        try:
            grid = read_curves(entry.details)
        except MissingDetail as err:
            ctx.leave_out(entry, str(err))
            continue
        for (method, layer), value in grid.items():
            curves[f"{entry.row} · {entry.task}"][method][layer].append(value)
    if not curves:
        raise MissingDetail("no result has per-layer log-odds curves in details.<task>.curves")

    rows = sorted(curves)
    methods = sorted({m for r in rows for m in curves[r]})
    colors = model_colors(methods)  # the leaderboard's one colour rule, here per method
    fig, axes = subplot_grid(len(rows))
    for ax, row in zip(axes, rows):
        for method in methods:
            points = curves[row].get(method)
            if not points:
                continue
            layers = sorted(points, key=sort_key)
            ys = [sum(points[x]) / len(points[x]) for x in layers]
            ax.plot(layers, ys, marker="o", markersize=3, linewidth=1.6, color=colors[method], label=plain(method))
        ax.axhline(0.0, color="0.6", linewidth=0.8, linestyle=":")
        ax.set_title(plain(row), fontsize=9)
        ax.set_xlabel("layer")
        ax.grid(alpha=0.25)
    axes[0].set_ylabel("log-odds (max over positions)")
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=colors[m], marker="o", markersize=3, label=plain(m)) for m in methods]
    axes[0].legend(handles=handles, fontsize=8, title="method", title_fontsize=8)  # every method, not only panel 1's
    fig.suptitle("CausalGym: intervention log-odds per layer", fontsize=11)
    rel = ctx.save(fig, f"{ctx.benchmark}-log-odds-per-layer")
    caption = (
        "Log-odds of the source label after intervening at each layer, maximised over token positions and "
        "averaged over the CausalGym tasks the harness task holds; one panel per model and task, one line per method."
    )
    return [Plot(rel, "CausalGym log-odds per layer per method", caption, ctx.benchmark)]
