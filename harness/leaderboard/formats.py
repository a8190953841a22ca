"""Plain-text outputs: ``leaderboard.json`` (everything), ``leaderboard.csv`` (one line per
model × task × metric, for spreadsheets and pandas) and ``leaderboard.md`` (tables to read)."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.leaderboard.escape import csv_text, md_text
from harness.leaderboard.table import BenchmarkTable, Cell, Column, format_number
from harness.results import write_json_atomic

if TYPE_CHECKING:  # pragma: no cover
    from harness.leaderboard.build import Leaderboard

DOCUMENT_VERSION = 1
CSV_FIELDS = [
    "benchmark", "task", "metric", "metric_label", "higher_is_better", "model", "row",
    "value", "stderr", "n_samples", "run_id", "created", "results_file",
]


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def write_text_atomic(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# -- JSON --------------------------------------------------------------------------------------
def to_document(board: Leaderboard) -> dict[str, Any]:
    return {
        "schema_version": DOCUMENT_VERSION,
        "generated": board.generated,
        "source": board.source,
        "selection": "all-runs" if board.all_runs else "newest",
        "runs": [{"file": r.relpath, "run_id": r.run_id, "model": r.model, "created": r.created_text} for r in board.runs],
        "benchmarks": [_table_document(board, t) for t in board.tables],
        "problems": [{"file": str(p.path), "message": p.message, "skipped": p.skipped} for p in board.problems],
        "notes": board.notes,
    }


def _table_document(board: Leaderboard, table: BenchmarkTable) -> dict[str, Any]:
    return {
        "name": table.name,
        "plugin": table.plugin,
        "description": table.description,
        "metric_source": table.metric_source,
        "columns": [
            {
                "key": c.key,
                "task": c.task,
                "metric": c.metric.name,
                "label": c.metric.label,
                "higher_is_better": c.metric.higher_is_better,
                "mean_of": list(c.mean_of),
                "headline": c.headline,
                "metric_source": c.metric.source,
            }
            for c in table.columns
        ],
        "rows": [
            {"label": r.label, "model": r.model, "cells": {k: _cell_document(c) for k, c in r.cells.items()}}
            for r in table.rows
        ],
        "plots": [{"file": p.file, "title": p.title, "caption": p.caption} for p in board.plots_for(table.name)],
        "notes": table.notes,
    }


def _cell_document(cell: Cell) -> dict[str, Any]:
    doc: dict[str, Any] = {"value": cell.value}
    if cell.run_id:
        doc.update(stderr=cell.stderr, n_samples=cell.n_samples, run_id=cell.run_id, created=cell.created, file=cell.file,
                   limit=cell.limit)
    return doc


def write_json(board: Leaderboard, path: Path) -> Path:
    write_json_atomic(path, to_document(board))
    return path


# -- CSV ---------------------------------------------------------------------------------------
def write_csv(board: Leaderboard, path: Path) -> Path:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for table in board.tables:
        for row in table.rows:
            for col in table.columns:
                cell = row.cells.get(col.key)
                if col.task is None or cell is None:
                    continue  # means are derived; the CSV keeps what the runs measured
                writer.writerow({
                    "benchmark": csv_text(table.name),
                    "task": csv_text(col.task),
                    "metric": csv_text(col.metric.name),
                    "metric_label": csv_text(col.metric.label),
                    "higher_is_better": "" if col.metric.higher_is_better is None else str(col.metric.higher_is_better).lower(),
                    "model": csv_text(row.model),
                    "row": csv_text(row.label),
                    "value": "" if cell.value is None else repr(cell.value),
                    "stderr": "" if cell.stderr is None else repr(cell.stderr),
                    "n_samples": "" if cell.n_samples is None else cell.n_samples,
                    "run_id": csv_text(cell.run_id),
                    "created": csv_text(cell.created),
                    "results_file": csv_text(cell.file),
                })
    return write_text_atomic(path, buf.getvalue())


# -- Markdown ----------------------------------------------------------------------------------
def column_heading(col: Column) -> str:
    arrow = f" {col.metric.arrow}" if col.metric.arrow else ""
    return f"{col.title}{arrow}"


def _md_cell(table: BenchmarkTable, col: Column, cell: Cell | None) -> str:
    if cell is None or cell.value is None:
        return "—"
    text = format_number(cell.value)
    if table.best(col) == cell.value:
        text = f"**{text}**"
    if cell.stderr is not None:
        text += f" ± {format_number(cell.stderr)}"
    if cell.limit is not None:
        text += f" (limit {cell.limit})"
    return text


def _md_table(table: BenchmarkTable, columns: list[Column]) -> list[str]:
    header = ["Model", *(md_text(column_heading(c)) for c in columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join([" --- "] + [" ---: "] * len(columns)) + "|"]
    for row in table.rows:
        cells = [md_text(row.label), *(_md_cell(table, c, row.cells.get(c.key)) for c in columns)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _md_table_transposed(table: BenchmarkTable, columns: list[Column]) -> list[str]:
    """Metrics as lines and models as columns: many per-setting metrics stay readable."""
    header = ["Metric", *(md_text(row.label) for row in table.rows)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join([" --- "] + [" ---: "] * len(table.rows)) + "|"]
    for col in columns:
        cells = [md_text(column_heading(col)), *(_md_cell(table, col, row.cells.get(col.key)) for row in table.rows)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def write_markdown(board: Leaderboard, path: Path) -> Path:
    lines = [
        "# Leaderboard",
        "",
        f"Generated {board.generated} from {md_text(board.source)}: {plural(len(board.runs), 'run')} read from "
        f"{plural(board.n_files, 'results file')}; {board.selection}. Best value per column in **bold** "
        "(↑ higher is better, ↓ lower is better); ± is the standard error.",
        "",
    ]
    lines += [f"> {md_text(n)}" for n in board.notes]
    for table in board.tables:
        lines += ["", f"## {md_text(table.name)}", ""]
        about = [md_text(_sentence(table.description))] if table.description else []
        if table.plugin:
            about.append(f"Plugin: {md_text(table.plugin)}.")
        about.append(f"Metric names from: {md_text(table.metric_source)}.")
        lines += [" ".join(about), ""]
        lines += _md_table(table, table.headline_columns)
        if table.extra_columns:
            lines += ["", f"More metrics ({len(table.extra_columns)}: per-setting and other reported values; one line per metric):", ""]
            lines += _md_table_transposed(table, table.extra_columns)
        for plot in board.plots_for(table.name):
            lines += ["", f"![{md_text(plot.title)}]({plot.file})", "", f"*{md_text(plot.caption)}*"]
        if table.notes:
            lines += ["", "Notes:", ""] + [f"- {md_text(n)}" for n in table.notes]
    if board.problems:
        lines += ["", "## Problems with results files", ""]
        lines += [f"- {md_text(p.path)}: {md_text(p.message)}" + ("" if p.skipped else " (value left out)") for p in board.problems]
    return write_text_atomic(path, "\n".join(lines) + "\n")
