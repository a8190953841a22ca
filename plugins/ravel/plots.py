"""RAVEL: Cause against Isolate for every method (colour) and model (marker).

Reads ``details.<task>.methods`` as the RAVEL benchmark writes it: method → ``{cause, isolate,
disentangle, ...}`` (already averaged over attributes). Dotted lines mark equal
Disentangle = (Cause + Isolate) / 2.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from harness.leaderboard.plots import Plot, PlotContext, model_colors, plain
from harness.leaderboard.plots.shapes import MissingDetail, first_key, number

if TYPE_CHECKING:  # pragma: no cover
    from harness.leaderboard.collect import Entry

MARKERS = "osD^vP*Xhp<>"


def read_methods(details: object) -> dict[str, tuple[list[float], list[float]]]:
    """method → ([cause], [isolate]) of one task; methods without both scores are left out."""
    _, methods = first_key(details, ("methods",))
    if not isinstance(methods, dict):
        raise MissingDetail("'methods' is not a mapping method -> {cause, isolate}")
    found: dict[str, tuple[list[float], list[float]]] = {}
    for method, scores in methods.items():
        if not isinstance(scores, dict):
            continue
        cause, isolate = number(scores.get("cause")), number(scores.get("isolate"))
        if cause is not None and isolate is not None:
            found[str(method)] = ([cause], [isolate])
    if not found:
        raise MissingDetail("no method has both a Cause and an Isolate score")
    return found


def cause_vs_isolate(entries: list[Entry], ctx: PlotContext) -> list[Plot]:
    points: dict[str, dict[str, tuple[list[float], list[float]]]] = defaultdict(dict)
    for entry in entries:
        try:
            methods = read_methods(entry.details)
        except MissingDetail as err:
            ctx.leave_out(entry, str(err))
            continue
        for method, (c, i) in methods.items():
            causes, isolates = points[entry.row].setdefault(method, ([], []))
            causes.extend(c)
            isolates.extend(i)
    if not points:
        raise MissingDetail("no result has per-method Cause/Isolate scores in details.<task>.methods")

    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    rows = sorted(points)
    methods = sorted({m for r in rows for m in points[r]})
    colors = model_colors(methods)  # the leaderboard's one colour rule, here per method
    markers = {r: MARKERS[i % len(MARKERS)] for i, r in enumerate(rows)}

    fig, ax = plt.subplots(figsize=(7.6, 5.2), layout="constrained")
    for level in (0.2, 0.4, 0.6, 0.8):
        ax.plot([0, 1], [2 * level, 2 * level - 1], color="0.75", linewidth=0.8, linestyle=":")
        ax.text(min(1.0, 2 * level) - 0.01, max(0.0, 2 * level - 1) + 0.01, f"D={level:.1f}", fontsize=7, color="0.5", ha="right")
    for row in rows:
        for method, (causes, isolates) in points[row].items():
            x, y = sum(isolates) / len(isolates), sum(causes) / len(causes)
            ax.scatter([x], [y], s=60, color=colors[method], marker=markers[row], edgecolors="black", linewidths=0.5, zorder=3)
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("Isolate (other attributes kept)")
    ax.set_ylabel("Cause (target attribute changed)")
    ax.grid(alpha=0.25)
    handles = [Line2D([], [], color=colors[m], marker="o", linestyle="", label=plain(m)) for m in methods]
    handles += [Line2D([], [], color="0.3", marker=markers[r], linestyle="", label=plain(r)) for r in rows]
    ax.legend(handles=handles, fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), title="method / model", title_fontsize=8)
    ax.set_title("RAVEL: Cause vs Isolate per method", fontsize=11)
    rel = ctx.save(fig, f"{ctx.benchmark}-cause-vs-isolate")
    caption = (
        "Each point is one method on one model (colour: method, marker: model), averaged over attributes and "
        "tasks. Up and right is better; dotted lines join equal Disentangle scores."
    )
    return [Plot(rel, "RAVEL Cause vs Isolate per method", caption, ctx.benchmark)]
