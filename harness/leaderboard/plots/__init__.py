"""Leaderboard plots (matplotlib, Agg backend, PNG): the core runs the plot kinds plugins register.

A plot kind is a :class:`~harness.registry.PlotSpec` returned by a plugin's
``harness_leaderboard_plots`` hook; its implementation takes the leaderboard entries of one
benchmark and draws one figure across models (see :data:`Plotter`). This module gives plot code
what it shares: :class:`PlotContext` (where to save, notes on what was left out), :func:`plain`,
:func:`model_colors`, :func:`subplot_grid` and the lenient readers in
:mod:`~harness.leaderboard.plots.shapes`. When the ``details`` a plot needs are missing or
malformed, that model/task is left out with a note; when nothing is left, the plot is skipped
with a note. Plots never stop the build, and without matplotlib they are skipped with a note.
"""

from __future__ import annotations

import importlib.util
import re
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from harness.leaderboard.plots.shapes import MissingDetail, NotApplicable

if TYPE_CHECKING:  # pragma: no cover
    from harness.leaderboard.collect import Entry
    from harness.registry import PlotSpec


@dataclass
class Plot:
    file: str  # relative to the output folder, forward slashes
    title: str
    caption: str
    benchmark: str  # the table it belongs under


@dataclass
class PlotReport:
    plots: list[Plot] = field(default_factory=list)
    notes: dict[str, list[str]] = field(default_factory=dict)  # benchmark -> notes
    skipped: str = ""  # why no plot was drawn at all (e.g. matplotlib missing)

    def note(self, benchmark: str, text: str) -> None:
        self.notes.setdefault(benchmark, []).append(text)


@dataclass
class PlotContext:
    """What a plotter gets: where to write, and a place for notes about what it left out."""

    out_dir: Path
    title: str
    benchmark: str = ""
    notes: list[str] = field(default_factory=list)

    def leave_out(self, entry: Entry, why: str) -> None:
        self.notes.append(f"{self.title}: left out {entry.row} / {entry.task}: {why}")

    def save(self, fig: Any, name: str) -> str:
        rel = f"plots/{_safe_name(name)}.png"
        path = self.out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110, bbox_inches="tight")
        import matplotlib.pyplot as plt

        plt.close(fig)
        return rel


#: A plotter returns the plots it drew (possibly none); :class:`MissingDetail` means "skip with a note".
Plotter = Callable[[list["Entry"], PlotContext], list[Plot]]


def applies(spec: PlotSpec, entry: Entry, plugin_names: Mapping[str, str]) -> bool:
    """Whether plot kind ``spec`` draws ``entry``: a benchmark it names, or else any benchmark
    of its plugin (the plugin registering the entry's benchmark, or the results file's
    ``tasks.<t>.plugin`` when the benchmark is not registered here)."""
    if spec.benchmarks:
        return entry.benchmark in spec.benchmarks
    plugin = plugin_names.get(entry.benchmark) or entry.meta.get("plugin")
    return bool(spec.plugin) and plugin == spec.plugin


def make_plots(entries: list[Entry], out_dir: Path, plots: Mapping[str, PlotSpec], plugin_names: Mapping[str, str] | None = None) -> PlotReport:
    """Draw every registered plot kind (``plots``: the registry's) for each benchmark it applies
    to; ``plugin_names`` maps a benchmark to the plugin that registers it."""
    report = PlotReport()
    work: list[tuple[PlotSpec, str, list[Entry]]] = []
    for spec in sorted(plots.values(), key=lambda s: (s.plugin, s.name)):
        by_benchmark: dict[str, list[Entry]] = {}
        for entry in entries:
            if applies(spec, entry, plugin_names or {}):
                by_benchmark.setdefault(entry.benchmark, []).append(entry)
        work.extend((spec, b, sorted(mine, key=lambda e: (e.row, e.task))) for b, mine in sorted(by_benchmark.items()))
    if not work:
        return report
    if importlib.util.find_spec("matplotlib") is None:
        report.skipped = "plots skipped: matplotlib is not installed (pip install matplotlib, or the extra of the plugin that draws them)"
        return report
    import matplotlib

    matplotlib.use("Agg", force=True)
    for spec, benchmark, mine in work:
        ctx = PlotContext(out_dir, spec.title or spec.name, benchmark)
        try:
            plotter = spec.load()
        except Exception as err:  # noqa: BLE001 - a plugin's broken plot module must not stop the leaderboard
            report.note(benchmark, f"{ctx.title}: skipped, plugin {spec.plugin!r} could not load its plot ({type(err).__name__}: {err}).")
            continue
        report.plots.extend(_draw(plotter, mine, ctx))
        for text in ctx.notes:
            report.note(benchmark, text)
    return report


def _draw(plotter: Plotter, entries: list[Entry], ctx: PlotContext) -> list[Plot]:
    import matplotlib.pyplot as plt

    try:
        return plotter(entries, ctx)
    except NotApplicable:
        return []
    except MissingDetail as err:
        ctx.notes.append(f"{ctx.title}: skipped ({err}).")
    except Exception as err:  # noqa: BLE001 - a broken plot must not stop the leaderboard
        where = traceback.extract_tb(err.__traceback__)[-1]
        ctx.notes.append(f"{ctx.title}: skipped, the plot failed ({type(err).__name__}: {err} at {Path(where.filename).name}:{where.lineno}).")
    finally:
        plt.close("all")
    return []


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")[:100] or "plot"


def plain(text: Any) -> str:
    """Text for a matplotlib label, shown literally (``$`` would start mathtext)."""
    return str(text).replace("$", r"\$")


def model_colors(labels: list[str]) -> dict[str, Any]:
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    return {label: cmap(i % 10) for i, label in enumerate(sorted(set(labels)))}


def subplot_grid(n: int, width: float = 4.2, height: float = 3.2, max_cols: int = 3, sharey: bool = True) -> tuple[Any, list[Any]]:
    import matplotlib.pyplot as plt

    cols = min(max(n, 1), max_cols)
    rows = (max(n, 1) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False, sharey=sharey, layout="constrained")
    flat = [ax for line in axes for ax in line]
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]
