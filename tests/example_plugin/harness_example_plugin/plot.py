"""A leaderboard plot: accuracy per model on the arithmetic tasks (matplotlib imported when drawing)."""

from __future__ import annotations

from harness.leaderboard.plots import Plot, PlotContext, model_colors, plain
from harness.leaderboard.plots.shapes import MissingDetail, number


def accuracy_bars(entries, ctx: PlotContext) -> list[Plot]:
    """One bar per model and task: the ``acc`` metric with its standard error."""
    bars = []
    for entry in entries:
        acc = number(entry.metrics.get("acc"))
        if acc is None:
            ctx.leave_out(entry, "no 'acc' metric")
            continue
        bars.append((f"{entry.row} · {entry.task}", entry.row, acc, number(entry.stderr.get("acc")) or 0.0))
    if not bars:
        raise MissingDetail("no result has an 'acc' metric")

    import matplotlib.pyplot as plt

    colors = model_colors([row for _, row, _, _ in bars])
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(bars)), 3.4), layout="constrained")
    ax.bar(range(len(bars)), [b[2] for b in bars], yerr=[b[3] for b in bars], color=[colors[b[1]] for b in bars], capsize=3)
    ax.set_xticks(range(len(bars)), [plain(b[0]) for b in bars], fontsize=8)
    ax.axhline(1 / 3, color="0.5", linestyle=":", linewidth=0.8)  # chance: three candidates
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    rel = ctx.save(fig, f"{ctx.benchmark}-accuracy")
    return [Plot(rel, "Arithmetic accuracy per model", "Accuracy on the arithmetic tasks; the dotted line is chance (1/3).", ctx.benchmark)]
