"""User-facing text names no machine-specific or development-only path (``../shared``, ``/work/``)."""

from __future__ import annotations

import argparse
import json
import re

from docexamples import doc_sources
from testutil import REPO, run_cli

FORBIDDEN = re.compile(r"\.\./shared|/work/")


def _offending(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if FORBIDDEN.search(line)]


def test_readme_and_docs_sources_name_no_machine_paths():
    sources = [*doc_sources(), REPO / "CONTRIBUTING.md", REPO / "mkdocs.yml",
               *sorted((REPO / "plugins").glob("*/README.md")), *sorted((REPO / "harness").glob("*/README.md"))]
    bad = {str(p.relative_to(REPO)): _offending(p.read_text(encoding="utf-8")) for p in sources}
    assert {k: v for k, v in bad.items() if v} == {}


def test_task_descriptions_name_no_machine_paths():
    res = run_cli(["list", "--json"])
    assert res.returncode == 0, res.stderr[-2000:]
    listing = json.loads(res.stdout)
    assert len(listing["tasks"]) > 20
    texts = [f"{t['task']}: {t['description']}" for t in listing["tasks"]]
    texts += [f"{s['suite']}: {s['description']}" for s in listing["suites"]]
    assert [t for t in texts if FORBIDDEN.search(t)] == []


def test_shipped_task_files_name_no_machine_paths():
    # values and comments alike: a path in a task file is what a user copies
    bad = {str(p.relative_to(REPO)): _offending(p.read_text(encoding="utf-8")) for p in sorted((REPO / "tasks").rglob("*.yaml"))}
    assert {k: v for k, v in bad.items() if v} == {}


def test_cli_help_names_no_machine_paths():
    from harness.cli import build_parser
    from harness.pluginmanager import PluginManager

    top = run_cli(["--help"])
    assert top.returncode == 0 and "usage: harness" in top.stdout
    helps = {"harness": top.stdout}

    def walk(parser: argparse.ArgumentParser) -> None:
        helps[parser.prog] = parser.format_help()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    walk(sub)

    walk(build_parser(PluginManager().load()))
    assert len(helps) > 8
    assert {prog: _offending(text) for prog, text in helps.items() if _offending(text)} == {}


def test_the_check_sees_a_planted_path():
    assert _offending("data: ../shared/refdata/x.json\nok line") == ["data: ../shared/refdata/x.json"]
    assert _offending("default: /work/main/out") and not _offending("export HARNESS_REFDATA=/data/refdata")
