"""Assemble a leaderboard from a results folder and write every output format."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from harness.leaderboard.collect import Problem, RunFile, collect, failure_notes, select_entries
from harness.leaderboard.plots import Plot, make_plots
from harness.leaderboard.table import BenchmarkTable, build_tables
from harness.registry import Registry


class NoResultsError(RuntimeError):
    """The results folder holds no readable results file."""


#: Where cells link: a viewer bundle next to index.html (``harness view RESULTS --bundle OUT/viewer``).
DEFAULT_VIEWER = "viewer/index.html"


@dataclass
class Leaderboard:
    source: str
    generated: str
    all_runs: bool
    tables: list[BenchmarkTable]
    runs: list[RunFile]
    n_files: int
    problems: list[Problem] = field(default_factory=list)
    plots: list[Plot] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # page-wide notes (e.g. plugins that failed)
    viewer: str = DEFAULT_VIEWER  # each cell links to its run and task there (harness view ... --bundle)

    @property
    def selection(self) -> str:
        return "every run (one row per model and run)" if self.all_runs else "newest run per model × task"

    def plots_for(self, benchmark: str) -> list[Plot]:
        return [p for p in self.plots if p.benchmark == benchmark]


def registered(plugins: Iterable[str] = (), autoload: bool | None = None, manager: Any = None) -> tuple[Registry, list[str]]:
    """What the plugins register (benchmarks' metric names, plot kinds), through ``manager``
    when the caller loaded one already (the CLI does), and notes on plugins that failed to load."""
    from harness.pluginmanager import PluginManager

    try:
        if manager is None:  # the Python API: load the installed plugins here
            manager = PluginManager().load(extra_modules=list(plugins), autoload=autoload)
        registry = manager.registry()
    except Exception as err:  # noqa: BLE001 - the leaderboard still works from the files' own metadata
        return Registry(), [f"Plugins could not be loaded ({type(err).__name__}: {err}); metric names come from the results files."]
    notes = [
        f"Plugin {info.name!r} failed to load ({info.error}); its benchmarks use the metric names stored in the results files."
        for info in manager.failures()
    ]
    return registry, notes


def build(
    results_dir: Path,
    out_dir: Path,
    *,
    all_runs: bool = False,
    plugins: Iterable[str] = (),
    autoload: bool | None = None,
    with_plots: bool = True,
    manager: Any = None,
    viewer: str = DEFAULT_VIEWER,
) -> Leaderboard:
    """Read ``results_dir``, draw the plots into ``out_dir/plots`` and return the leaderboard."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise NoResultsError(f"{results_dir}: not a folder")
    found = collect(results_dir)
    if not found.runs:
        if found.n_files == 0:
            raise NoResultsError(f"{results_dir}: no results files (results_*.json) found")
        details = "; ".join(str(p) for p in found.problems)
        raise NoResultsError(f"{results_dir}: none of the {found.n_files} results files could be used: {details}")

    registry, notes = registered(plugins, autoload, manager)
    registered_specs = registry.benchmarks
    entries = select_entries(found.runs, all_runs=all_runs)
    notes += failure_notes(found.runs, entries, all_runs)
    tables = build_tables(entries, registered_specs)
    board = Leaderboard(
        source=str(results_dir),
        generated=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        all_runs=all_runs,
        tables=tables,
        runs=sorted(found.runs, key=RunFile.sort_key),
        n_files=found.n_files,
        problems=found.problems,
        notes=notes,
        viewer=viewer,
    )
    _remove_previous_plots(Path(out_dir))
    if with_plots:
        plugin_names = {name: spec.plugin for name, spec in registered_specs.items() if spec.plugin}
        report = make_plots(entries, Path(out_dir), registry.plots, plugin_names)
        board.plots = report.plots
        if report.skipped:
            board.notes.append(report.skipped[0].upper() + report.skipped[1:] + ".")
        for table in tables:
            table.notes.extend(report.notes.get(table.name, []))
    return board


def _remove_previous_plots(out_dir: Path) -> None:
    """Delete the PNGs an earlier leaderboard in ``out_dir`` listed (and only those)."""
    previous = out_dir / "leaderboard.json"
    try:
        doc = json.loads(previous.read_text(encoding="utf-8"))
        files = [p["file"] for b in doc.get("benchmarks", []) for p in b.get("plots", [])]
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        return
    for rel in files:
        if isinstance(rel, str) and rel.startswith("plots/") and rel.endswith(".png") and "/" not in rel[6:] and ".." not in rel:
            (out_dir / rel).unlink(missing_ok=True)


def write_all(board: Leaderboard, out_dir: Path) -> list[Path]:
    """Write leaderboard.md/.csv/.json and index.html into ``out_dir``; return their paths."""
    from harness.leaderboard.formats import write_csv, write_json, write_markdown
    from harness.leaderboard.page import write_html

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [
        write_markdown(board, out_dir / "leaderboard.md"),
        write_csv(board, out_dir / "leaderboard.csv"),
        write_json(board, out_dir / "leaderboard.json"),
        write_html(board, out_dir / "index.html"),
    ]
