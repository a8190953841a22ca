"""Leaderboards from results files: Markdown, CSV, JSON, a static sortable HTML page and plots.

``harness leaderboard RESULTS_DIR --out DIR`` (or ``python -m harness.leaderboard``). Modules:
:mod:`~harness.leaderboard.collect` finds and checks results files and picks runs,
:mod:`~harness.leaderboard.table` builds one table per benchmark,
:mod:`~harness.leaderboard.formats` and :mod:`~harness.leaderboard.page` write the outputs,
:mod:`~harness.leaderboard.plots` draws the per-benchmark figures and
:mod:`~harness.leaderboard.browser` drives headless Chromium (screenshots, page tests).
"""

from harness.leaderboard.command import add_command, run

__all__ = ["add_command", "run"]
