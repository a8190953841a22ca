"""The docs site builds in strict mode, and its generated pages say what the code says."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from testutil import REPO

pytest.importorskip("mkdocs", reason="the docs extra is not installed (pip install -e '.[docs]')")

DOCS_ENV = {"NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    res = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(REPO / "mkdocs.yml"),
                          "--site-dir", str(out)], capture_output=True, text=True, cwd=REPO, timeout=600,
                         env={**os.environ, **DOCS_ENV})
    assert res.returncode == 0, res.stderr[-4000:]
    return out


def _text(site, page: str) -> str:
    import html
    import re

    raw = (site / page / "index.html").read_text(encoding="utf-8")
    return html.unescape(re.sub(r"<[^>]+>", "", raw))


@pytest.mark.slow
def test_cli_page_lists_every_subcommand_and_option(site):
    import argparse

    from harness.cli import build_parser
    from harness.pluginmanager import PluginManager

    page = _text(site, "reference/cli")
    parser = build_parser(PluginManager().load())

    def walk(p: argparse.ArgumentParser):
        yield p
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    yield from walk(sub)

    progs = [p.prog for p in walk(parser)]
    assert {"harness run", "harness list", "harness leaderboard", "harness llm-usage", "harness lm-eval"} <= set(progs)
    for p in walk(parser):
        assert p.prog in page
        for action in p._actions:
            for flag in action.option_strings:
                assert flag in page, (p.prog, flag)


@pytest.mark.slow
def test_task_page_lists_every_benchmark_argument(site):
    import inspect

    from harness.pluginmanager import PluginManager

    page = _text(site, "reference/tasks")
    benchmarks = PluginManager().load().registry().benchmarks
    assert {"causalgym", "ravel", "mquake", "llm_usage"} <= set(benchmarks)
    for name, spec in benchmarks.items():
        assert name in page
        for arg in inspect.signature(spec.load().__init__).parameters:
            if arg not in ("self", "kwargs"):
                assert arg in page, (name, arg)
    assert "causalgym_acceptance" in page and "$HARNESS_REFDATA" in page


@pytest.mark.slow
def test_performance_page_renders_every_committed_benchmark_file(site):
    page = _text(site, "performance")
    files = sorted((REPO / "results" / "bench").glob("*.json"))
    assert files
    for path in files:
        assert f"results/bench/{path.name}" in page
    backends = json.loads((REPO / "results" / "bench" / "backends.json").read_text())
    for task, variants in backends["tasks"].items():
        assert task in page
        for variant in variants.values():
            assert f"{variant['seconds']:.4g}" in page


def test_performance_generator_renders_any_json_shape_and_marks_removed_figures(tmp_path, monkeypatch):
    import importlib.util
    import types

    monkeypatch.setitem(sys.modules, "mkdocs_gen_files", types.SimpleNamespace(open=lambda *a, **k: open(os.devnull, "w")))
    spec = importlib.util.spec_from_file_location("perfgen", REPO / "docs" / "gen" / "performance.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    (tmp_path / "scoring.json").write_text(json.dumps({
        "model": "m", "runs": [{"variant": "ours", "tok_s": 14.04}, {"variant": "lm-eval", "tok_s": 3.8}],
        "ratio": {"median": 3.65}}))
    (tmp_path / "broken.json").write_text("{not json")
    page = gen.render(tmp_path)
    assert "| ours | 14.04 |" in page and "3.65" in page
    assert "`results/bench/broken.json`" in page and "could not be read" in page
    assert "`harness bench generation`" in page.split("## Removed figures", 1)[1]  # no generation JSON here
    assert "`harness bench scoring`" not in page.split("## Removed figures", 1)[1]  # scoring has its file


def test_readme_and_contributing_links_resolve():
    import re

    for name in ("README.md", "CONTRIBUTING.md", *[str(p.relative_to(REPO)) for p in REPO.glob("*/*/README.md")]):
        path = REPO / name
        links = re.findall(r"\]\(([^)\s]+)\)", path.read_text(encoding="utf-8"))
        local = [link.split("#")[0] for link in links if not re.match(r"[a-z]+:", link) and not link.startswith("#")]
        missing = [link for link in local if link and not (path.parent / link).exists()]
        assert missing == [], (name, missing)
        if name == "README.md":
            assert len(local) >= 10
