"""The ``harness leaderboard RESULTS_DIR --out DIR`` command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

from harness.textsafe import printable

DESCRIPTION = """\
Aggregate every results file (results_*.json, searched recursively) under RESULTS_DIR into a
leaderboard: leaderboard.md, leaderboard.csv, leaderboard.json, a static index.html (one
sortable table per benchmark; open it from disk, no server needed) and PNG plots in plots/.
Each (model, task) shows its newest run unless --all-runs is given. Metric names and
directions come from the installed plugins, else from the results files themselves.
A results file that cannot be used is reported with its path and left out."""


def configure(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("results_dir", type=Path, metavar="RESULTS_DIR", help="folder of results (searched recursively)")
    parser.add_argument("--out", type=Path, metavar="DIR", help="output folder (default: RESULTS_DIR/leaderboard)")
    parser.add_argument("--all-runs", action="store_true", help="one row per model and run instead of the newest run per model × task")
    parser.add_argument("--plugin", action="append", default=[], metavar="MODULE", help="also load this plugin module (repeatable)")
    parser.add_argument("--no-plots", action="store_true", help="skip the matplotlib plots")
    parser.add_argument(
        "--screenshot", action="store_true",
        help="also save DIR/screenshot.png of index.html rendered by headless Chromium (needs chromium and chromium-driver)",
    )
    parser.add_argument("--viewer", default=None, metavar="URL",
                        help="where each cell links to its run and task (default: viewer/index.html next to index.html, "
                             "a bundle from: harness view RESULTS_DIR --bundle OUT/viewer)")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 when any results file had a problem")
    parser.set_defaults(func=run)
    return parser


def add_command(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``leaderboard`` to the harness CLI; the parser's ``func(args, pm)`` returns the exit status."""
    parser = subparsers.add_parser(
        "leaderboard", help="build a leaderboard (Markdown, CSV, JSON, HTML, plots) from results files",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return configure(parser)


def run(args: argparse.Namespace, pm: Any) -> int:
    """Build and write the leaderboard; ``pm`` is the plugin manager of the command line (it
    already honours ``--plugin`` and ``-p no:NAME``): benchmark metadata and plots come from it."""
    from harness.leaderboard.build import NoResultsError, build, write_all
    from harness.leaderboard.formats import plural

    out = args.out if args.out is not None else args.results_dir / "leaderboard"
    unusable = _unusable_out(out)
    if unusable:
        print(f"harness leaderboard: error: --out {out}: {unusable}", file=sys.stderr)
        return 2
    try:
        board = build(args.results_dir, out, all_runs=args.all_runs, plugins=args.plugin, with_plots=not args.no_plots, manager=pm,
                      **({"viewer": args.viewer} if getattr(args, "viewer", None) else {}))
    except NoResultsError as err:
        print(printable(f"harness leaderboard: error: {err}"), file=sys.stderr)
        return 2
    for problem in board.problems:
        print(printable(f"harness leaderboard: warning: {problem}"), file=sys.stderr)
    for note in board.notes:
        print(printable(f"harness leaderboard: note: {note}"), file=sys.stderr)
    written = write_all(board, out)
    models = sorted({row.model for t in board.tables for row in t.rows})
    print(
        f"Leaderboard of {plural(len(models), 'model')} over {plural(len(board.tables), 'benchmark')} from "
        f"{plural(len(board.runs), 'run')} ({board.selection}); {plural(len(board.plots), 'plot')}."
    )
    for path in written:
        print(printable(f"  {path}"))
    if args.screenshot:
        from harness.leaderboard.browser import BrowserError, screenshot_page

        try:
            print(f"  {screenshot_page(out / 'index.html', out / 'screenshot.png')}")
        except BrowserError as err:
            print(f"harness leaderboard: error: screenshot failed: {err}", file=sys.stderr)
            return 1
    skipped = [p for p in board.problems if p.skipped]
    if skipped:
        print(f"{len(skipped)} results file(s) left out; see the warnings above and the 'problems' section of index.html.", file=sys.stderr)
    return 1 if args.strict and board.problems else 0


def _unusable_out(out: Path) -> str:
    """Why ``out`` cannot hold the leaderboard (checked before any work), or ''."""
    if out.exists() and not out.is_dir():
        return "is a file, not a folder"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        return f"cannot create the folder ({err.strerror or err})"
    return ""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="harness leaderboard", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    args = configure(parser).parse_args(argv)
    from harness.pluginmanager import PluginManager

    return run(args, PluginManager().load(extra_modules=args.plugin))
