"""Leaderboard plots (matplotlib, Agg backend, PNG), one module per plot kind.

A plotter takes the leaderboard entries of one plugin and draws one figure across models.
When the ``details`` a plot needs are missing or malformed, that model/task is left out with
a note; when nothing is left, the plot is skipped with a note. Plots never stop the build.

Which plotters run is decided by the plugin (or, failing that, the benchmark) an entry
belongs to; see :data:`PLOTTERS`.
"""

from __future__ import annotations

import re
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from harness.leaderboard.plots.shapes import MissingDetail, NotApplicable

if TYPE_CHECKING:  # pragma: no cover
    from harness.leaderboard.collect import Entry


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


def _registry() -> dict[str, list[tuple[str, Plotter]]]:
    from harness.leaderboard.plots import activation_decoding, causalgym, llm_usage, ravel

    return {
        "causalgym": [("CausalGym log-odds per layer", causalgym.layer_curves)],
        "ravel": [("RAVEL Cause vs Isolate", ravel.cause_vs_isolate)],
        "activation_decoding": [("Activation decoding α sweep", activation_decoding.alpha_sweep)],
        "llm_usage": [
            ("LLM-usage estimate vs true α", llm_usage.validation),
            ("LLM-usage α̂ per group", llm_usage.groups),
        ],
    }


def _names(entry: Entry, plugin_names: dict[str, str]) -> set[str]:
    """The names a plotter may be keyed by: the registering plugin, the results file's plugin, the benchmark."""
    names = {entry.benchmark, plugin_names.get(entry.benchmark, "")}
    plugin = entry.meta.get("plugin")
    if isinstance(plugin, str):
        names.add(plugin)
    return names - {""}


def make_plots(entries: list[Entry], out_dir: Path, plugin_names: dict[str, str] | None = None) -> PlotReport:
    """Draw every plot kind that has entries. A plot kind is keyed by plugin name, which is
    matched against an entry's registering plugin (``plugin_names``: benchmark → plugin), the
    results file's ``tasks.<t>.plugin`` and the benchmark name."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    names = {id(e): _names(e, plugin_names or {}) for e in entries}
    report = PlotReport()
    for key, plotters in _registry().items():
        by_benchmark: dict[str, list[Entry]] = {}
        for entry in entries:
            if key in names[id(entry)]:
                by_benchmark.setdefault(entry.benchmark, []).append(entry)
        for benchmark, mine in sorted(by_benchmark.items()):
            for title, plotter in plotters:
                ctx = PlotContext(out_dir, title, benchmark)
                report.plots.extend(_draw(plotter, sorted(mine, key=lambda e: (e.row, e.task)), ctx))
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
