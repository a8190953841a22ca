"""``python -m harness.leaderboard`` as a real subprocess on a results folder in the runner's
format: which runs are shown, where metric names come from, the four output files, the
plots, the reporting of broken files and the escaping of hostile strings."""

from __future__ import annotations

import csv
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys

from lb_fixtures import ALL_TASKS, BENCHMARKS, EVIL, EVIL_ATTR, FORMULA, REPO, SETTINGS, make_run, run_leaderboard

from harness.leaderboard.table import format_number


def _doc(out):
    return json.loads((out / "leaderboard.json").read_text(encoding="utf-8"))


def _cells(doc):
    """(row label, column key) -> cell, over every benchmark."""
    return {(r["label"], k): c for b in doc["benchmarks"] for r in b["rows"] for k, c in r["cells"].items()}


def test_command_succeeds_and_reports_each_bad_file_by_path(built):
    tree, out, proc = built
    assert proc.returncode == 0, proc.stderr
    for name in ("leaderboard.md", "leaderboard.csv", "leaderboard.json", "index.html"):
        assert str(out / name) in proc.stdout
    for path, words in tree.bad_files.items():
        line = next((ln for ln in proc.stderr.splitlines() if path in ln), None)
        assert line is not None, f"{path} not reported:\n{proc.stderr}"
        assert words in line
    problems = {p["file"]: p for p in _doc(out)["problems"]}
    assert set(problems) == set(tree.bad_files)
    assert problems[str(tree.root / "odd/results_20261117-000000.json")]["skipped"] is False
    html = (out / "index.html").read_text(encoding="utf-8")
    for path in tree.bad_files:
        assert path in html


def test_each_cell_shows_the_newest_run_of_that_model_and_task(built):
    tree, out, _ = built
    cells = _cells(_doc(out))
    checked = 0
    for model in tree.models():
        for task in ALL_TASKS:
            runs = [r["doc"] for r in tree.runs if r["doc"]["model"]["name"] == model and task in r["doc"]["results"]]
            if not runs:
                assert not any(row == model and key.startswith(f"{task}/") for row, key in cells)
                continue
            newest = tree.newest(model, task)
            for metric, value in newest["results"][task].items():
                if not isinstance(value, (int, float)):
                    continue
                cell = cells[(model, f"{task}/{metric}")]
                assert cell["value"] == value and cell["run_id"] == newest["run_id"]
                assert cell["stderr"] == newest["stderr"][task][metric]
                checked += 1
    # smollm2's ravel_city comes from its newest run, its causalgym tasks from the one before
    assert cells[("smollm2-135m", "ravel_city/cause")]["created"] == "2026-11-21T12:00:00+00:00"
    assert cells[("smollm2-135m", "causalgym_agr_gender/log_odds")]["created"] == "2026-11-20T09:00:00Z"
    assert checked >= 35
    rows = {r["label"] for b in _doc(out)["benchmarks"] for r in b["rows"]}
    assert rows == set(tree.models())  # one row per model, never one per run


def test_a_task_that_failed_in_the_newest_run_is_reported_with_what_is_shown_instead(built):
    tree, out, proc = built
    smol = [r["doc"] for r in tree.runs if r["doc"]["model"]["name"] == "smollm2-135m"]
    latest = max(smol, key=lambda d: d["created"])
    shown = tree.newest("smollm2-135m", "causalgym_npi_any")
    expected = (
        f"smollm2-135m: task causalgym_npi_any failed in run {latest['run_id']} (2026-11-21T12:00:00+00:00, "
        f"smollm2-135m/results_20261121-120000.json): RuntimeError: the model ran out of memory; "
        f"the table shows its run {shown['run_id']} of {shown['created']}."
    )
    assert _doc(out)["notes"] == [expected]
    assert expected in proc.stderr


def test_metric_names_come_from_the_plugin_else_from_the_results_file(built):
    _, out, _ = built
    by_name = {b["name"]: b for b in _doc(out)["benchmarks"]}
    assert set(by_name) == set(BENCHMARKS)
    for benchmark, (_, tasks, metrics) in BENCHMARKS.items():
        prefix = "file:" if benchmark == "thirdparty_bench" else "plugin:"
        for col in by_name[benchmark]["columns"]:
            setting, _, base = col["metric"].rpartition("/")
            if col["metric"] in metrics:  # registered; a per-method variant ("das/cause") goes to "more metrics"
                label, hib = metrics[col["metric"]]
                assert col["label"] == prefix + label and col["headline"] is (not setting)
            else:  # a per-setting variant ("greedy/mc1") nobody registered: the base metric's direction
                label, hib = metrics[base]
                assert col["label"] == f"{prefix}{label} · {setting}" and not col["headline"] and col["metric_source"] == "suffix"
            assert col["higher_is_better"] is hib
    assert by_name["thirdparty_bench"]["metric_source"] == "results file"
    assert any("thirdparty_bench" in n for n in by_name["thirdparty_bench"]["notes"])
    extra = [c for c in by_name["activation_decoding_truthfulqa_mc"]["columns"] if not c["headline"]]
    assert len(extra) == 2 * len(SETTINGS)
    md = (out / "leaderboard.md").read_text(encoding="utf-8")
    assert f"More metrics ({len(extra)}: " in md
    # registration order is kept: ravel registers disentangle, cause, isolate
    assert [c["metric"] for c in by_name["ravel"]["columns"]] == ["disentangle", "cause", "isolate", "das/cause"]


def test_mean_columns_average_all_tasks_or_stay_empty(built):
    tree, out, _ = built
    causalgym = next(b for b in _doc(out)["benchmarks"] if b["name"] == "causalgym")
    mean_col = next(c for c in causalgym["columns"] if c["key"] == "mean/log_odds")
    assert mean_col["task"] is None and sorted(mean_col["mean_of"]) == ["causalgym_agr_gender", "causalgym_npi_any"]
    rows = {r["label"]: r["cells"] for r in causalgym["rows"]}
    for model in ("smollm2-135m", "gemma3-270m"):
        by_hand = [tree.newest(model, t)["results"][t]["log_odds"] for t in mean_col["mean_of"]]
        assert math.isclose(rows[model]["mean/log_odds"]["value"], sum(by_hand) / 2, rel_tol=1e-12)
    assert rows[EVIL]["mean/log_odds"]["value"] is None  # ran one of the two tasks only


def test_rows_are_ordered_best_first_and_lower_is_better_is_respected(built):
    _, out, _ = built
    doc = _doc(out)
    third = next(b for b in doc["benchmarks"] if b["name"] == "thirdparty_bench")
    values = [r["cells"]["thirdparty_task/error_rate"]["value"] for r in third["rows"]]
    assert values == sorted(values)  # lower is better: smallest first
    ravel = next(b for b in doc["benchmarks"] if b["name"] == "ravel")
    values = [r["cells"]["ravel_city/disentangle"]["value"] for r in ravel["rows"]]
    assert values == sorted(values, reverse=True)
    md = (out / "leaderboard.md").read_text(encoding="utf-8")
    best_row = next(ln for ln in md.splitlines() if ln.startswith("| smollm2-135m | ") and "**" in ln and "0." in ln)
    assert best_row  # some column is won by smollm2 and shown in bold
    third_best = min(v for v in [r["cells"]["thirdparty_task/error_rate"]["value"] for r in third["rows"]])
    assert f"**{format_number(third_best)}**" in md


def test_csv_has_one_line_per_measured_value_and_defuses_formulas(built):
    tree, out, _ = built
    with (out / "leaderboard.csv").open(encoding="utf-8", newline="") as fh:
        lines = list(csv.DictReader(fh))
    expected = {
        (model, task, metric)
        for model in tree.models()
        for task in ALL_TASKS
        if any(r["doc"]["model"]["name"] == model and task in r["doc"]["results"] for r in tree.runs)
        for metric, v in tree.newest(model, task)["results"][task].items()
        if isinstance(v, (int, float))
    }
    got = {(ln["model"].removeprefix("'"), ln["task"], ln["metric"]) for ln in lines}
    assert got == expected and len(lines) == len(expected)
    line = next(ln for ln in lines if ln["model"] == "smollm2-135m" and ln["task"] == "ravel_city" and ln["metric"] == "cause")
    assert float(line["value"]) == tree.newest("smollm2-135m", "ravel_city")["results"]["ravel_city"]["cause"]
    assert line["higher_is_better"] == "true"
    odd = next(ln for ln in lines if ln["model"] == "odd-model")
    assert odd["run_id"] == "'" + FORMULA  # a spreadsheet shows it as text instead of running it
    assert any(ln["model"] == EVIL for ln in lines)


def test_plots_are_drawn_and_missing_details_are_noted(built):
    _, out, _ = built
    doc = _doc(out)
    plots = [p for b in doc["benchmarks"] for p in b["plots"]]
    assert {p["file"] for p in plots} == {
        "plots/causalgym-log-odds-per-layer.png",
        "plots/ravel-cause-vs-isolate.png",
        "plots/activation_decoding_truthfulqa_mc-alpha-sweep.png",
        "plots/llm_usage-estimate-vs-true-alpha.png",
        "plots/llm_usage-alpha-per-group.png",
    }
    for plot in plots:
        data = (out / plot["file"]).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    notes = {b["name"]: " ".join(b["notes"]) for b in doc["benchmarks"]}
    assert f"left out {EVIL} / causalgym_agr_gender: details are missing" in notes["causalgym"]
    assert f"left out {EVIL} / ravel_city" in notes["ravel"]


def test_hostile_strings_are_escaped_in_every_format(built):
    _, out, _ = built
    html = (out / "index.html").read_text(encoding="utf-8")
    assert EVIL not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count("<script") == 1  # the page's own sorting script only
    assert 'data-value="&quot;&#x27;&gt;&lt;img src=x onerror=&quot;window.__pwned=1&quot;&gt;"' in html
    md = (out / "leaderboard.md").read_text(encoding="utf-8")
    assert EVIL not in md and "<img" not in md
    assert "&lt;script&gt;alert\\(1\\)&lt;/script&gt;" in md
    for line in md.splitlines():
        if line.startswith("| ") and EVIL_ATTR[:2] in line:
            assert line.count(" | ") == line.count("|") - 2  # the name adds no table cells
    doc = _doc(out)
    assert EVIL in {r["label"] for b in doc["benchmarks"] for r in b["rows"]}  # JSON keeps the exact text


def test_all_runs_gives_one_row_per_run(tmp_path, built):
    tree, _, _ = built
    proc = run_leaderboard(tree, tmp_path / "all", "--all-runs", "--no-plots")
    assert proc.returncode == 0, proc.stderr
    doc = _doc(tmp_path / "all")
    assert doc["selection"] == "all-runs"
    cells = _cells(doc)
    smol_runs = [r["doc"] for r in tree.runs if r["doc"]["model"]["name"] == "smollm2-135m"]
    assert len(smol_runs) == 3
    for run in smol_runs:
        row = f"smollm2-135m @ {run['run_id']}"
        for task, metrics in run["results"].items():
            assert cells[(row, f"{task}/{next(iter(metrics))}")]["value"] == next(iter(metrics.values()))
    assert ("gemma3-270m", "ravel_city/cause") in cells  # a model with one run keeps its plain name


def test_the_harness_cli_runs_the_command_with_its_own_plugin_options(tmp_path, built):
    tree, _, _ = built
    env = dict(os.environ, HARNESS_DISABLE_PLUGIN_AUTOLOAD="1", PYTHONPATH=os.pathsep.join([str(tree.plugin_dir), str(REPO)]))
    out = tmp_path / "cli"
    cmd = [sys.executable, "-m", "harness", "--plugin", "lb_test_plugin", "leaderboard", str(tree.root), "--out", str(out), "--no-plots"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    sources = {b["name"]: b["metric_source"] for b in _doc(out)["benchmarks"]}
    assert sources["ravel"] == "plugin" and sources["thirdparty_bench"] == "results file"


def test_missing_or_unusable_results_folder_is_a_clear_error(tmp_path, built):
    tree, _, _ = built
    tree_copy = type(tree)(tmp_path / "nothing-here", plugin_dir=tree.plugin_dir)
    proc = run_leaderboard(tree_copy, tmp_path / "o")
    assert proc.returncode == 2 and "not a folder" in proc.stderr and str(tmp_path / "nothing-here") in proc.stderr
    only_bad = tmp_path / "only-bad"
    shutil.copytree(tree.root / "broken", only_bad / "broken")
    proc = run_leaderboard(type(tree)(only_bad, plugin_dir=tree.plugin_dir), tmp_path / "o")
    assert proc.returncode == 2 and "none of the 4 results files could be used" in proc.stderr
    assert not (tmp_path / "o" / "index.html").exists()


def test_strict_fails_on_problems_and_rebuilding_drops_stale_plots(tmp_path, built):
    tree, _, _ = built
    out = tmp_path / "out"
    out.mkdir()
    small_run = make_run("tiny-model", "2026-11-22T00:00:00Z", ["thirdparty_task"], random.Random(1))  # no plot kind
    (tmp_path / "small" / "tiny").mkdir(parents=True)
    (tmp_path / "small" / "tiny" / "results_1.json").write_text(json.dumps(small_run))
    stale = out / "plots" / "ravel-cause-vs-isolate.png"
    stale.parent.mkdir()
    stale.write_bytes(b"old")
    keep = out / "plots" / "mine.png"
    keep.write_bytes(b"not ours")
    (out / "leaderboard.json").write_text(json.dumps({"benchmarks": [{"plots": [{"file": "plots/ravel-cause-vs-isolate.png"}, {"file": "../escape.png"}]}]}))
    small = type(tree)(tmp_path / "small", plugin_dir=tree.plugin_dir)
    proc = run_leaderboard(small, out, "--strict")
    assert proc.returncode == 0, proc.stderr
    assert not stale.exists() and keep.exists()  # only files the previous leaderboard listed go
    shutil.copytree(tree.root / "broken", tmp_path / "small" / "broken")
    proc = run_leaderboard(small, out, "--strict")
    assert proc.returncode == 1 and re.search(r"4 results file\(s\) left out", proc.stderr)
