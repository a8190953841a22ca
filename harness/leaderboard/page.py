"""``index.html``: a static page, one sortable table per benchmark, plots and notes.

No server and no network: the style and the sorting script are inline, and a
Content-Security-Policy allows only those two (by hash) and images from the page's folder,
so even a string that escaped escaping could not run. Every string from a results file goes
through :func:`harness.leaderboard.escape.html_text`.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from urllib.parse import quote
from typing import TYPE_CHECKING

from harness.leaderboard.assets import SCRIPT, STYLE
from harness.leaderboard.escape import html_text as esc
from harness.leaderboard.formats import plural, write_text_atomic
from harness.leaderboard.table import BenchmarkTable, Cell, Column, format_number

if TYPE_CHECKING:  # pragma: no cover
    from harness.leaderboard.build import Leaderboard


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def write_html(board: Leaderboard, path: Path) -> Path:
    return write_text_atomic(path, render(board))


def render(board: Leaderboard) -> str:
    style, script = STYLE, SCRIPT
    csp = f"default-src 'none'; img-src 'self'; style-src {_sha256(style)}; script-src {_sha256(script)}; base-uri 'none'; form-action 'none'"
    nav = " ".join(f'<a href="#b{i}">{esc(t.name)}</a>' for i, t in enumerate(board.tables))
    if board.problems:
        nav += ' <a href="#problems" class="warn">problems</a>'
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{esc(csp)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>Leaderboard</title>",
        f"<style>{style}</style></head><body>",
        "<header><h1>Leaderboard</h1>",
        f'<p class="meta">Generated {esc(board.generated)} from <code>{esc(board.source)}</code>: '
        f"{plural(len(board.runs), 'run')} read from {plural(board.n_files, 'results file')}; {esc(board.selection)}. "
        "Click a column header to sort. ↑ higher is better, ↓ lower is better; the best value of each column is "
        "highlighted; ± is the standard error.</p>",
        f"<nav>{nav}</nav>",
        *(f'<p class="note">{esc(n)}</p>' for n in board.notes),
        "</header><main>",
    ]
    for i, table in enumerate(board.tables):
        parts.append(_section(board, table, i))
    if board.problems:
        parts.append('<section id="problems"><h2>Problems with results files</h2><ul class="problems">')
        parts += [
            f"<li><code>{esc(p.path)}</code>: {esc(p.message)}{'' if p.skipped else ' (value left out; rest of the file used)'}</li>"
            for p in board.problems
        ]
        parts.append("</ul></section>")
    parts.append(f"</main><script>{script}</script></body></html>")
    return "\n".join(parts) + "\n"


def _section(board: Leaderboard, table: BenchmarkTable, index: int) -> str:
    about = []
    if table.description:
        about.append(esc(table.description.strip().rstrip(".") + "."))
    if table.plugin:
        about.append(f'<span class="tag">plugin: {esc(table.plugin)}</span>')
    about.append(f'<span class="tag">metric names from: {esc(table.metric_source)}</span>')
    out = [
        f'<section id="b{index}" data-benchmark="{esc(table.name)}"><h2>{esc(table.name)}</h2>',
        f'<p class="about">{" ".join(about)}</p>',
        _table_html(table, table.headline_columns, board.viewer),
    ]
    extra = table.extra_columns
    if extra:
        out.append(f'<details class="more"><summary>More metrics ({len(extra)} columns: per-setting and other reported values)</summary>')
        out.append(_table_html(table, extra, board.viewer))
        out.append("</details>")
    for plot in board.plots_for(table.name):
        out.append(
            f'<figure><a href="{esc(plot.file)}"><img src="{esc(plot.file)}" alt="{esc(plot.title)}"></a>'
            f"<figcaption><b>{esc(plot.title)}.</b> {esc(plot.caption)}</figcaption></figure>"
        )
    if table.notes:
        out.append('<ul class="notes">' + "".join(f"<li>{esc(n)}</li>" for n in table.notes) + "</ul>")
    out.append("</section>")
    return "\n".join(out)


def _table_html(table: BenchmarkTable, columns: list[Column], viewer: str = "") -> str:
    out = [
        '<div class="scroll"><table class="board">',
        "<thead><tr>",
        '<th scope="col" data-key="model" data-type="text" aria-sort="none" class="model"><button type="button">Model</button></th>',
        *(_header(c) for c in columns),
        "</tr></thead><tbody>",
    ]
    for row in table.rows:
        out.append(f'<tr><th scope="row" class="model" data-value="{esc(row.label)}" title="{esc(row.label)}">{esc(row.label)}</th>')
        out += [_cell(table, c, row.cells.get(c.key), viewer) for c in columns]
        out.append("</tr>")
    out.append("</tbody></table></div>")
    return "\n".join(out)


def _header(col: Column) -> str:
    hib = {True: "1", False: "0"}.get(col.metric.higher_is_better, "")  # type: ignore[arg-type]
    where = f"mean over {col.n_tasks} tasks" if col.task is None else col.task
    tip = f"{col.metric.label} ({col.metric.name}): {col.metric.direction_text}"
    if col.metric.description:
        tip += f". {col.metric.description}"
    if col.task is None:
        tip += f". Mean over {', '.join(col.mean_of)}; empty for a model missing any of them."
    arrow = f' <span class="dir">{col.metric.arrow}</span>' if col.metric.arrow else ""
    return (
        f'<th scope="col" data-key="{esc(col.key)}" data-type="number" data-hib="{hib}" aria-sort="none" title="{esc(tip)}">'
        f'<button type="button"><span class="task">{esc(where)}</span>'
        f'<span class="metric">{esc(col.metric.label)}{arrow}</span></button></th>'
    )


def viewer_link(viewer: str, run_id: str, task: str) -> str:
    """The viewer's page for ``task`` of run ``run_id`` (both percent-encoded: they come from files)."""
    return f"{viewer}#/run/{quote(run_id, safe='')}/task/{quote(task, safe='')}"


def _cell(table: BenchmarkTable, col: Column, cell: Cell | None, viewer: str = "") -> str:
    if cell is None or cell.value is None:
        return '<td data-value="" class="missing">—</td>'
    classes = ["num"] + (["best"] if table.best(col) == cell.value else [])
    se = f'<span class="se">±{esc(format_number(cell.stderr))}</span>' if cell.stderr is not None else ""
    tip, text, limit = "", esc(format_number(cell.value)), ""
    if cell.limit is not None:
        classes.append("limited")
        limit = f'<span class="limit">limit {cell.limit}</span>'
    if cell.run_id:
        n = f" · n={cell.n_samples}" if cell.n_samples is not None else ""
        lim = f" · limited run: at most {cell.limit} samples per task" if cell.limit is not None else ""
        tip = f' title="{esc(f"run {cell.run_id} · {cell.created}{n}{lim} · {cell.file} · click: its samples in the viewer")}"'
        if viewer and col.task is not None:
            text = f'<a href="{esc(viewer_link(viewer, cell.run_id, col.task))}">{text}</a>'
    return f'<td data-value="{cell.value!r}" class="{" ".join(classes)}"{tip}>{text}{se}{limit}</td>'
