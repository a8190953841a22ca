"""LLM-usage estimation: the estimate against the true α (validation), and α̂ per group/time.

Reads from ``details.<task>`` as the LLM-usage benchmark writes it:

* ``mixtures`` (validation tasks): records ``{true_alpha, alpha, ci_low, ci_high}`` where ``alpha``
  is the estimate, with ``corrected_alpha``/``corrected_ci_low``/``corrected_ci_high`` when the
  bias correction ran;
* ``groups`` (estimation tasks): records ``{group, alpha_hat, ci_low, ci_high}``, drawn in the
  order given.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from harness.leaderboard.plots import Plot, PlotContext, model_colors, plain
from harness.leaderboard.plots.shapes import MissingDetail, NotApplicable, first_key, number

if TYPE_CHECKING:  # pragma: no cover
    from harness.leaderboard.collect import Entry

VALIDATION_KEY = "mixtures"
GROUPS_KEY = "groups"


def _records(details: object, key: str) -> list[dict[str, Any]]:
    _, found = first_key(details, (key,))
    if not isinstance(found, list):
        raise MissingDetail(f"'{key}' is not a list of records")
    return [r for r in found if isinstance(r, dict)]


def read_validation(details: object, corrected: bool = False) -> list[tuple[float, float, float | None, float | None]]:
    """``(true α, estimate, low, high)`` sorted by true α; with ``corrected`` the bias-corrected
    estimate where the records have one."""
    prefix = "corrected_" if corrected else ""
    out = []
    for rec in _records(details, VALIDATION_KEY):
        truth, estimate = number(rec.get("true_alpha")), number(rec.get(f"{prefix}alpha"))
        if truth is not None and estimate is not None:
            out.append((truth, estimate, number(rec.get(f"{prefix}ci_low")), number(rec.get(f"{prefix}ci_high"))))
    if not out and not corrected:
        raise MissingDetail("the mixtures have no (true α, estimate) records")
    return sorted(out)


def read_groups(details: object) -> list[tuple[str, float, float | None, float | None]]:
    """``(group, α̂, low, high)`` in the order given."""
    out = []
    for rec in _records(details, GROUPS_KEY):
        group, estimate = rec.get("group"), number(rec.get("alpha_hat"))
        if group is not None and estimate is not None:
            out.append((str(group), estimate, number(rec.get("ci_low")), number(rec.get("ci_high"))))
    if not out:
        raise MissingDetail("the groups have no (group, α̂) records")
    return out


def _series_label(entry: Entry, several_tasks: bool) -> str:
    return f"{entry.row} · {entry.task}" if several_tasks else entry.row


def _error_bars(points: list[tuple[Any, float, float | None, float | None]]) -> list[list[float]] | None:
    if not all(p[2] is not None and p[3] is not None for p in points):
        return None
    return [[max(0.0, p[1] - p[2]) for p in points], [max(0.0, p[3] - p[1]) for p in points]]  # type: ignore[operator]


def _collect(entries: list[Entry], ctx: PlotContext, read: Callable[[Any], list[Any]], other_key: str,
             missing: str) -> tuple[dict[tuple[str, str], list[Any]], list[Entry]]:
    """Each entry's points by (row, task), and the entries that had them. An entry holding the
    other plot's key instead (validation vs per-group estimates) is skipped without a note."""
    series: dict[tuple[str, str], list[Any]] = {}
    with_data = []
    for entry in entries:
        try:
            points = read(entry.details)
        except MissingDetail as err:
            if isinstance(entry.details, dict) and other_key in entry.details:
                continue  # a task of the other kind: the other plot draws it
            ctx.leave_out(entry, str(err))
            continue
        with_data.append(entry)
        series[(entry.row, entry.task)] = points
    if not series:
        if not ctx.notes:
            raise NotApplicable  # only tasks of the other kind here
        raise MissingDetail(missing)
    return series, with_data


def validation(entries: list[Entry], ctx: PlotContext) -> list[Plot]:
    series, with_data = _collect(entries, ctx, read_validation, GROUPS_KEY,
                                 "no result has a validation (estimate vs true α) in details.<task>.mixtures")

    import matplotlib.pyplot as plt

    several = len({e.task for e in with_data}) > 1
    colors = model_colors([row for row, _ in series])
    fig, ax = plt.subplots(figsize=(6.0, 4.6), layout="constrained")
    top = max(max(p[0], p[3] if p[3] is not None else p[1], p[1]) for pts in series.values() for p in pts)
    ax.plot([0, top], [0, top], color="0.55", linewidth=0.9, linestyle=":", label="estimate = true α")
    markers = "osD^v"
    for i, entry in enumerate(sorted(with_data, key=lambda e: (e.row, e.task))):
        label = _series_label(entry, several)
        drawn = [(series[(entry.row, entry.task)], "-", label), (read_validation(entry.details, corrected=True), "--", f"{label} (corrected)")]
        for points, style, text in drawn:
            if points:
                ax.errorbar(
                    [p[0] for p in points], [p[1] for p in points], yerr=_error_bars(points), marker=markers[i % len(markers)],
                    markersize=4, capsize=3, linewidth=1.2, linestyle=style, color=colors[entry.row], label=plain(text),
                )
    ax.set_xlabel("true α (fraction of LLM-modified sentences)")
    ax.set_ylabel("estimated α̂")
    ax.grid(alpha=0.25)
    ax.legend(fontsize=8)
    ax.set_title("LLM-usage estimation: estimate vs true α", fontsize=11)
    rel = ctx.save(fig, f"{ctx.benchmark}-estimate-vs-true-alpha")
    caption = (
        "Estimated α̂ on mixtures with a known fraction α of LLM-written text; bars are the reported intervals, the grey "
        "line is a perfect estimate, dashed coloured lines the bias-corrected estimate where the plugin reports one."
    )
    return [Plot(rel, "LLM-usage estimate vs true α", caption, ctx.benchmark)]


def groups(entries: list[Entry], ctx: PlotContext) -> list[Plot]:
    series, with_data = _collect(entries, ctx, read_groups, VALIDATION_KEY, "no result has α̂ per group in details.<task>.groups")

    import matplotlib.pyplot as plt

    order: list[str] = []
    for points in series.values():
        order.extend(g for g, *_ in points if g not in order)
    position = {g: i for i, g in enumerate(order)}
    several = len({e.task for e in with_data}) > 1
    colors = model_colors([row for row, _ in series])
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(order) + 2.5), 4.4), layout="constrained")
    for entry in sorted(with_data, key=lambda e: (e.row, e.task)):
        points = series[(entry.row, entry.task)]
        xs = [position[g] for g, *_ in points]
        color = colors[entry.row]
        ax.plot(xs, [p[1] for p in points], marker="o", markersize=4, linewidth=1.4, color=color, label=plain(_series_label(entry, several)))
        if _error_bars(points) is not None:
            ax.fill_between(xs, [p[2] for p in points], [p[3] for p in points], color=color, alpha=0.15, linewidth=0)  # type: ignore[misc]
    ax.set_xticks(range(len(order)), [plain(g) for g in order], rotation=45 if len(order) > 6 else 0, ha="right" if len(order) > 6 else "center", fontsize=8)
    ax.set_xlabel("group")
    ax.set_ylabel("estimated α̂")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.25)
    ax.legend(fontsize=8)
    ax.set_title("LLM-usage estimation: α̂ per group", fontsize=11)
    rel = ctx.save(fig, f"{ctx.benchmark}-alpha-per-group")
    caption = "Estimated fraction α̂ of LLM-modified sentences per group (e.g. per month), with the reported interval as a band."
    return [Plot(rel, "LLM-usage α̂ per group", caption, ctx.benchmark)]
