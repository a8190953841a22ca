"""CausalGym: log-odds per layer, one line per method, one panel per model and task.

Reads ``details.<task>.grid``: records ``{method, layer (or site), position, log_odds}`` (or the
same as nested mappings method → layer → position → value); or ``details.<task>.curves``, the
per-layer maxima already taken (method → layer → value, or task → method → layer → value),
also when nested under a log-odds summary (``details.<task>.logodds.curves``).
Following the paper's summary, a layer's value is the maximum over positions, then the mean
over tasks.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import TYPE_CHECKING

from harness.leaderboard.plots import Plot, PlotContext, plain, subplot_grid
from harness.leaderboard.plots.shapes import MissingDetail, first_key, flatten, number, pick, sort_key

if TYPE_CHECKING:  # pragma: no cover
    from harness.leaderboard.collect import Entry

GRID_KEYS = ("grid", "layer_grid", "cells", "records", "curves")
METHOD_KEYS = ("method", "featurizer", "intervention")
LAYER_KEYS = ("layer", "site")
VALUE_KEYS = ("log_odds", "logodds", "log-odds", "logodds_effect", "log_odds_effect", "odds", "effect", "value")


def read_grid(details: object) -> dict[tuple[str, float], float]:
    """``(method, layer) -> value`` of one result: the max over positions, averaged over the
    tasks the details hold (records may carry a ``task`` field)."""
    key, grid = _find_grid(details)
    fields = ("method", "layer", "position")
    if str(key).lower() == "curves" and isinstance(grid, dict) and _depth(grid) == 4:
        fields = ("task", "method", "layer")  # task -> method -> layer -> value
    best: dict[tuple[str, str, float], float] = {}
    for rec in flatten(grid, fields, record_keys=VALUE_KEYS):
        method, layer, value = pick(rec, METHOD_KEYS), number(pick(rec, LAYER_KEYS)), number(pick(rec, VALUE_KEYS))
        if method is None or layer is None or value is None:
            continue
        cell = (str(rec.get("task", "")), str(method), layer)
        best[cell] = max(value, best.get(cell, -math.inf))
    if not best:
        raise MissingDetail("the grid has no (method, layer, log-odds) records")
    per_layer: dict[tuple[str, float], list[float]] = defaultdict(list)
    for (_, method, layer), value in best.items():
        per_layer[(method, layer)].append(value)
    return {k: sum(v) / len(v) for k, v in per_layer.items()}


def _find_grid(details: object) -> tuple[str, object]:
    """The grid at the top of ``details``, or under a log-odds summary (``details.logodds.curves``)."""
    try:
        return first_key(details, GRID_KEYS)
    except MissingDetail:
        lowered = {str(k).lower(): v for k, v in details.items()} if isinstance(details, dict) else {}
        for name in VALUE_KEYS:
            inner = lowered.get(name)
            if isinstance(inner, dict) and any(str(k).lower() in GRID_KEYS for k in inner):
                return first_key(inner, GRID_KEYS)
        raise


def _depth(node: object) -> int:
    """Nesting depth of mappings down to the first leaf."""
    depth = 0
    while isinstance(node, dict) and node:
        node = next(iter(node.values()))
        depth += 1
    return depth + 1


def layer_curves(entries: list[Entry], ctx: PlotContext) -> list[Plot]:
    # One panel per model and task: tasks of one benchmark may sweep different layers, methods
    # and CausalGym tasks, so averaging them into one curve would mix unlike things.
    curves: dict[str, dict[str, dict[float, list[float]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for entry in entries:
        try:
            grid = read_grid(entry.details)
        except MissingDetail as err:
            ctx.leave_out(entry, str(err))
            continue
        for (method, layer), value in grid.items():
            curves[f"{entry.row} · {entry.task}"][method][layer].append(value)
    if not curves:
        raise MissingDetail("no result has a (task, method, layer, position) grid in details.<task>.grid")

    import matplotlib.pyplot as plt

    rows = sorted(curves)
    methods = sorted({m for r in rows for m in curves[r]})
    cmap = plt.get_cmap("tab10")
    colors = {m: cmap(i % 10) for i, m in enumerate(methods)}
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
