"""Plot readers accept the shapes plugins may use; malformed details skip a plot with a note."""

from __future__ import annotations

import json
import random

import pytest
from lb_fixtures import make_run

from harness.leaderboard.build import build
from harness.leaderboard.escape import csv_text, html_text, md_text
from harness.leaderboard.plots.activation_decoding import read_sweep
from harness.leaderboard.plots.causalgym import read_grid
from harness.leaderboard.plots.llm_usage import read_groups, read_validation
from harness.leaderboard.plots.ravel import read_methods
from harness.leaderboard.plots.shapes import MissingDetail


def test_causalgym_grid_takes_the_max_over_positions_in_either_shape():
    records = {"grid": [
        {"method": "das", "layer": 0, "position": 0, "log_odds": 0.5},
        {"method": "das", "layer": 0, "position": 1, "log_odds": 1.5},
        {"method": "das", "layer": 1, "position": 0, "log_odds": -2.0},
        {"method": "probe", "layer": 1, "position": 3, "log_odds": 0.25},
    ]}
    nested = {"grid": {"das": {"0": {"0": 0.5, "1": 1.5}, "1": {"0": -2.0}}, "probe": {"1": {"3": 0.25}}}}
    expected = {("das", 0.0): 1.5, ("das", 1.0): -2.0, ("probe", 1.0): 0.25}
    assert read_grid(records) == expected
    assert read_grid(nested) == expected
    # cells as the CausalGym plugin keeps them (site, logodds, a task field), and per-layer curves
    cells = {"grid": [
        {"task": "a", "method": "das", "site": 2, "position": 0, "logodds": 1.0, "accuracy": 1.0},
        {"task": "a", "method": "das", "site": 2, "position": 1, "logodds": 3.0, "accuracy": 0.0},
        {"task": "b", "method": "das", "site": 2, "position": 0, "logodds": 0.0, "accuracy": 1.0},
    ]}
    assert read_grid(cells) == {("das", 2.0): 1.5}  # max over positions per task, then the mean over tasks
    assert read_grid({"curves": {"a": {"das": {"2": 3.0}}, "b": {"das": {"2": 0.0}}}}) == {("das", 2.0): 1.5}
    assert read_grid({"curves": {"das": {"2": 3.0}}}) == {("das", 2.0): 3.0}
    summary = {"by_method": {"das": 1.5}, "curves": {"a": {"das": {"2": 3.0}}, "b": {"das": {"2": 0.0}}}}
    assert read_grid({"logodds": summary, "accuracy": {"curves": {}}}) == {("das", 2.0): 1.5}
    with pytest.raises(MissingDetail, match="'grid'"):
        read_grid({"something": []})
    with pytest.raises(MissingDetail, match="missing"):
        read_grid(None)


def test_ravel_methods_flat_nested_per_attribute_or_records():
    flat = read_methods({"methods": {"DAS": {"Cause": 0.8, "Isolate": 0.4}}})
    per_attribute = read_methods({"per_method": {"DAS": {"Country": {"cause": 0.8, "isolate": 0.4}, "Language": {"cause": 0.6, "isolate": 0.2}}}})
    records = read_methods({"methods": [{"method": "DAS", "cause": 0.8, "isolate": 0.4}, {"method": "PCA", "cause": "x"}]})
    assert flat == {"DAS": ([0.8], [0.4])}
    assert per_attribute == {"DAS": ([0.8, 0.6], [0.4, 0.2])}
    assert records == {"DAS": ([0.8], [0.4])}  # a record without both scores is ignored


def test_alpha_sweep_and_llm_usage_shapes():
    assert read_sweep({"sweep": {"0.5": {"mc1": 0.3}, "0": {"mc1": 0.2}}}) == [{"alpha": "0.5", "mc1": 0.3}, {"alpha": "0", "mc1": 0.2}]
    settings = {"greedy": {"mc1": 0.2}, "activation_dola,layers=low,alpha=0.5,info_layer=16": {"mc1": 0.3}}
    assert read_sweep({"settings": settings, "primary": "greedy"}) == [
        {"method": "greedy", "mc1": 0.2},
        {"method": "activation_dola", "layers": "low", "alpha": "0.5", "info_layer": "16", "mc1": 0.3},
    ]
    with pytest.raises(MissingDetail, match="no setting with an alpha"):
        read_sweep({"settings": {"greedy": {"mc1": 0.2}}})
    assert read_validation({"validation": {"0.1": 0.12, "0": {"estimate": 0.02, "ci": [0.01, 0.03]}}}) == [
        (0.0, 0.02, 0.01, 0.03), (0.1, 0.12, None, None)
    ]
    assert read_validation({"validation": [{"alpha": 0.05, "alpha_hat": 0.07, "lower": 0.06, "upper": 0.08}]}) == [(0.05, 0.07, 0.06, 0.08)]
    # records as the LLM-usage plugin's estimates write them: ``alpha`` is the estimate there
    mixture = {"true_alpha": 0.05, "alpha": 0.08, "ci_low": 0.07, "ci_high": 0.09, "mle": 0.081}
    assert read_validation({"mixtures": [mixture]}) == [(0.05, 0.08, 0.07, 0.09)]
    with pytest.raises(MissingDetail):
        read_validation({"validation": [{"alpha": 0.05}]})  # one number is not both truth and estimate
    assert read_groups({"groups": [{"group": "2024-01", "alpha": 0.1, "ci_low": 0.09, "ci_high": 0.11}]}) == [("2024-01", 0.1, 0.09, 0.11)]
    assert read_groups({"over_time": {"2024-02": 0.2, "2024-01": 0.1}}) == [("2024-02", 0.2, None, None), ("2024-01", 0.1, None, None)]
    with pytest.raises(MissingDetail):
        read_groups({"groups": [{"group": "a"}]})


def test_malformed_details_skip_the_plot_with_a_note_and_never_crash(tmp_path):
    run = make_run("m", "2026-11-01T00:00:00Z", ["causalgym_agr_gender", "ravel_city", "truthfulqa_mc_activation", "llm_usage_validation"], random.Random(0))
    run["details"] = {
        "causalgym_agr_gender": {"grid": "not a grid"},
        "ravel_city": {"methods": [1, 2, 3]},
        "truthfulqa_mc_activation": {"alpha_sweep": {"a": "b"}},
        "llm_usage_validation": ["not", "an", "object"],
    }
    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "results_x.json").write_text(json.dumps(run))
    board = build(tmp_path / "res", tmp_path / "out", autoload=False)
    assert board.plots == []
    notes = {t.name: " ".join(t.notes) for t in board.tables}
    assert "CausalGym log-odds per layer: left out m / causalgym_agr_gender" in notes["causalgym"]
    assert "RAVEL Cause vs Isolate: left out m / ravel_city" in notes["ravel"]
    assert "α sweep: left out m / truthfulqa_mc_activation" in notes["activation_decoding_truthfulqa_mc"]
    assert "estimate vs true α: left out m / llm_usage_validation: details are a list" in notes["llm_usage"]
    assert all("skipped" in notes[name] for name in notes)


def test_escape_helpers():
    assert html_text("\"'<&>") == "&quot;&#x27;&lt;&amp;&gt;"
    assert md_text("a|b\n<i>*x*</i>") == "a\\|b &lt;i&gt;\\*x\\*&lt;/i&gt;"
    assert [csv_text(s) for s in ("=1+1", "+1", "-1", "@x", "ok", "a=b")] == ["'=1+1", "'+1", "'-1", "'@x", "ok", "a=b"]
