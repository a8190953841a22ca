"""Plot kinds come from the plugins' harness_leaderboard_plots hook and read the details their
benchmarks write; malformed details skip a plot with a note; without matplotlib the tables stay."""

from __future__ import annotations

import json
import random

import pytest
from lb_fixtures import make_run

from harness.leaderboard.build import build
from harness.leaderboard.escape import csv_text, html_text, md_text
from harness.leaderboard.plots.shapes import MissingDetail
from harness_plugins.activation_decoding.plots import read_sweep
from harness_plugins.causalgym.plots import read_curves
from harness_plugins.llm_usage.plots import read_groups, read_validation
from harness_plugins.ravel.plots import read_methods


def test_causalgym_curves_as_the_benchmark_summarises_them():
    from harness_plugins.causalgym.metrics import summarize

    cells = [  # what the sweep writes per cell: the plot reads the benchmark's own summary of them
        {"task": "a", "method": "das", "site": 2, "position": "x", "logodds": 1.0},
        {"task": "a", "method": "das", "site": 2, "position": "y", "logodds": 3.0},
        {"task": "b", "method": "das", "site": 2, "position": "x", "logodds": 0.0},
        {"task": "b", "method": "probe", "site": 4, "position": "x", "logodds": None},
    ]
    details = json.loads(json.dumps({"curves": summarize(cells, "logodds")["curves"]}))  # as stored: keys become strings
    assert read_curves(details) == {("das", 2.0): 1.5}  # max over positions per task, then the mean over tasks
    with pytest.raises(MissingDetail, match="'curves'"):
        read_curves({"grid": []})
    with pytest.raises(MissingDetail, match="missing"):
        read_curves(None)


def test_ravel_methods_as_the_benchmark_writes_them():
    methods = {"das": {"cause": 0.8, "isolate": 0.4, "disentangle": 0.6}, "pca": {"cause": "x", "isolate": 0.1}}
    assert read_methods({"methods": methods, "primary": "das"}) == {"das": ([0.8], [0.4])}  # no number, no point
    with pytest.raises(MissingDetail, match="mapping"):
        read_methods({"methods": [1, 2]})


def test_alpha_sweep_and_llm_usage_shapes():
    settings = {"greedy": {"mc1": 0.2}, "activation_dola,layers=low,alpha=0.5,info_layer=16": {"mc1": 0.3}}
    assert read_sweep({"settings": settings, "primary": "greedy"}) == [
        {"method": "greedy", "mc1": 0.2},
        {"method": "activation_dola", "layers": "low", "alpha": "0.5", "info_layer": "16", "mc1": 0.3},
    ]
    with pytest.raises(MissingDetail, match="no setting with an alpha"):
        read_sweep({"settings": {"greedy": {"mc1": 0.2}}})
    mixtures = [  # the records the llm_usage validation task keeps: ``alpha`` is the estimate there
        {"true_alpha": 0.05, "alpha": 0.08, "ci_low": 0.07, "ci_high": 0.09, "mle": 0.081,
         "corrected_alpha": 0.06, "corrected_ci_low": 0.05, "corrected_ci_high": 0.07},
        {"true_alpha": 0.0, "alpha": 0.02, "ci_low": 0.01, "ci_high": 0.03, "mle": 0.02},
    ]
    assert read_validation({"mixtures": mixtures}) == [(0.0, 0.02, 0.01, 0.03), (0.05, 0.08, 0.07, 0.09)]
    assert read_validation({"mixtures": mixtures}, corrected=True) == [(0.05, 0.06, 0.05, 0.07)]
    with pytest.raises(MissingDetail):
        read_validation({"mixtures": [{"true_alpha": 0.05}]})
    assert read_groups({"groups": [{"group": "2024-01", "alpha_hat": 0.1, "ci_low": 0.09, "ci_high": 0.11}]}) == [("2024-01", 0.1, 0.09, 0.11)]
    with pytest.raises(MissingDetail):
        read_groups({"groups": [{"group": "a"}]})


def test_malformed_details_skip_the_plot_with_a_note_and_never_crash(tmp_path):
    run = make_run("m", "2026-11-01T00:00:00Z", ["causalgym_agr_gender", "ravel_city", "truthfulqa_mc_activation", "llm_usage_validation"], random.Random(0))
    run["details"] = {
        "causalgym_agr_gender": {"grid": "not a grid"},
        "ravel_city": {"methods": [1, 2, 3]},
        "truthfulqa_mc_activation": {"settings": {"a": "b"}},
        "llm_usage_validation": ["not", "an", "object"],
    }
    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "results_x.json").write_text(json.dumps(run))
    board = build(tmp_path / "res", tmp_path / "out")  # the installed plugins draw their plots
    assert board.plots == []
    notes = {t.name: " ".join(t.notes) for t in board.tables}
    assert "CausalGym log-odds per layer: left out m / causalgym_agr_gender" in notes["causalgym"]
    assert "RAVEL Cause vs Isolate: left out m / ravel_city" in notes["ravel"]
    assert "α sweep: left out m / truthfulqa_mc_activation" in notes["activation_decoding_truthfulqa_mc"]
    assert "estimate vs true α: left out m / llm_usage_validation: details are a list" in notes["llm_usage"]
    assert all("skipped" in notes[name] for name in notes)


def test_plot_kinds_come_from_the_hook_and_follow_their_benchmarks(tmp_path):
    from harness.hookspecs import hookimpl
    from harness.leaderboard.plots import Plot
    from harness.pluginmanager import PluginManager
    from harness.registry import BenchmarkSpec, PlotSpec

    drawn = []

    def count_rows(entries, ctx):
        drawn.append((ctx.benchmark, [e.row for e in entries]))
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots()
        ax.bar(range(len(entries)), [len(e.metrics) for e in entries])
        return [Plot(ctx.save(fig, f"{ctx.benchmark}-rows"), "rows", "one bar per row", ctx.benchmark)]

    class ThirdParty:
        @hookimpl
        def harness_register_benchmarks(self):
            return [BenchmarkSpec("thirdparty_bench", "builtins:object")]

        @hookimpl
        def harness_leaderboard_plots(self):
            return [PlotSpec("rows", count_rows, title="Rows")]

    class Another:  # the same plot name in another plugin is no clash; it names the benchmark it draws
        @hookimpl
        def harness_leaderboard_plots(self):
            return [PlotSpec("rows", count_rows, title="Rows", benchmarks=("ravel",))]

    pm = PluginManager().load(autoload=False)
    pm.register_object(ThirdParty(), "thirdparty")
    pm.register_object(Another(), "another")
    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "results_x.json").write_text(json.dumps(make_run("m", "2026-11-01T00:00:00Z", ["thirdparty_task", "ravel_city"], random.Random(0))))
    board = build(tmp_path / "res", tmp_path / "out", manager=pm)
    assert drawn == [("ravel", ["m"]), ("thirdparty_bench", ["m"])]  # each its own benchmarks (the ravel plugin is not loaded)
    assert [p.file for p in board.plots] == ["plots/ravel-rows.png", "plots/thirdparty_bench-rows.png"] and pm.failures() == []
    assert (tmp_path / "out" / "plots" / "thirdparty_bench-rows.png").read_bytes()[:4] == b"\x89PNG"


def test_without_matplotlib_the_tables_are_built_and_the_plots_skipped_with_a_note(tmp_path):
    import subprocess
    import sys

    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "results_x.json").write_text(json.dumps(make_run("m", "2026-11-01T00:00:00Z", ["ravel_city"], random.Random(0))))
    # matplotlib is installed here; the child process sees it as absent (an import of it fails)
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "from harness.leaderboard.command import main\n"
            f"sys.exit(main([{str(tmp_path / 'res')!r}, '--out', {str(tmp_path / 'out')!r}]))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "plots skipped: matplotlib is not installed" in res.stderr.lower() and "Traceback" not in res.stderr
    doc = json.loads((tmp_path / "out" / "leaderboard.json").read_text())
    assert [b["name"] for b in doc["benchmarks"]] == ["ravel"] and doc["benchmarks"][0]["rows"]
    assert not (tmp_path / "out" / "plots").exists()


def test_escape_helpers():
    assert html_text("\"'<&>") == "&quot;&#x27;&lt;&amp;&gt;"
    assert md_text("a|b\n<i>*x*</i>") == "a\\|b &lt;i&gt;\\*x\\*&lt;/i&gt;"
    assert [csv_text(s) for s in ("=1+1", "+1", "-1", "@x", "ok", "a=b")] == ["'=1+1", "'+1", "'-1", "'@x", "ok", "a=b"]
