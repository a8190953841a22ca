"""``harness llm-usage ...`` as real subprocesses: the plugin adds its command group through the hook."""

from __future__ import annotations

import json

import pytest

from llm_usage_helpers import harness_cli, write_jsonl, write_token_parquet


@pytest.fixture(scope="module")
def corpora(tmp_path_factory, world):
    root = tmp_path_factory.mktemp("llm_usage_cli")
    write_token_parquet(root / "human.parquet", world.human(1500), column="human_sentence")
    write_token_parquet(root / "ai.parquet", world.ai(1500), column="ai_sentence")
    write_token_parquet(root / "held_human.parquet", world.human(1200))
    write_token_parquet(root / "held_ai.parquet", world.ai(400))
    mixture = world.human(900) + world.ai(100)
    texts = [" ".join(s) + "." for s in mixture]
    months = ["2023-01"] * 500 + ["2023-02"] * 500
    write_jsonl(root / "corpus.jsonl", texts, extra={"month": months})
    write_token_parquet(root / "mixture.parquet", mixture)
    return root


@pytest.mark.slow
def test_fit_estimate_validate_end_to_end(corpora):
    table = corpora / "table.csv"
    fit = harness_cli("llm-usage", "fit", "--human", str(corpora / "human.parquet"), "--ai", str(corpora / "ai.parquet"),
                      "--out", str(table), "--calibrate", "--folds", "3")
    assert fit.returncode == 0, fit.stderr
    assert "fitted" in fit.stdout and table.is_file() and (corpora / "table.calibration.json").is_file()
    assert "dropped sentences: 0 human" in fit.stdout  # the world's sentences all have many words

    est = harness_cli("llm-usage", "estimate", "--table", str(table), "--corpus", str(corpora / "corpus.jsonl"),
                      "--group-by", "month", "--bootstrap", "200", "--json")
    assert est.returncode == 0, est.stderr
    rows = json.loads(est.stdout)
    assert [r["group"] for r in rows] == ["2023-01", "2023-02"]
    # The first 500 documents are all human, the second 500 hold the 100 AI ones (20%).
    assert rows[0]["alpha"] < 0.04 and 0.12 < rows[1]["alpha"] < 0.28
    assert all(r["ci_low"] <= r["alpha"] <= r["ci_high"] and "corrected_alpha" in r for r in rows)

    val = harness_cli("llm-usage", "validate", "--table", str(table), "--human", str(corpora / "held_human.parquet"),
                      "--ai", str(corpora / "held_ai.parquet"), "--alphas", "0,0.1,0.2", "--bootstrap", "200",
                      "--mixture", f"{corpora / 'mixture.parquet'}=0.1")
    assert val.returncode == 0, val.stderr
    lines = val.stdout.splitlines()
    assert lines[0].split()[:3] == ["source", "true", "alpha"] and "corrected" in lines[0]
    assert len(lines) == 1 + 4 + 1 and lines[-1].startswith("summary: mae=")
    alpha_cell = lines[1].split()[2]
    assert len(alpha_cell.split(".")[1]) == 4  # alpha-hat to 4 decimals

    val = harness_cli("llm-usage", "validate", "--table", str(table), "--human", str(corpora / "held_human.parquet"),
                      "--ai", str(corpora / "held_ai.parquet"), "--alphas", "0,0.1,0.2", "--bootstrap", "200", "--json")
    summary = json.loads(val.stdout)["summary"]
    mixtures = json.loads(val.stdout)["mixtures"]
    for suffix in ("", "_corrected"):
        assert 0.0 <= summary[f"coverage{suffix}"] <= 1.0 and summary[f"width{suffix}"] > 0
    widths = [m["corrected_ci_high"] - m["corrected_ci_low"] for m in mixtures]
    assert summary["width_corrected"] == pytest.approx(sum(widths) / len(widths))


def test_fit_reports_dropped_sentences_and_why(tmp_path, world):
    human = tmp_path / "human.txt"
    sentences = [" ".join(s).capitalize() + "." for s in world.human(400)]
    human.write_text(" ".join(sentences) + " Yes. Maybe. 42 17. Fine words here.\n", encoding="utf-8")
    write_token_parquet(tmp_path / "ai.parquet", world.ai(400) + [["only"], ["7", "8"], ["one", "9"]])
    fit = harness_cli("llm-usage", "fit", "--human", str(human), "--ai", str(tmp_path / "ai.parquet"), "--out", str(tmp_path / "t.csv"))
    assert fit.returncode == 0, fit.stderr
    line = next(x for x in fit.stdout.splitlines() if x.startswith("dropped sentences"))
    # human: "Yes." and "Maybe." keep one word each, "42 17." none; AI: ["only"] and ["one", "9"] one word, ["7", "8"] none
    assert "3 human (1 with no word left, 2 with only one word left)" in line
    assert "3 ai (1 with no word left, 2 with only one word left)" in line


@pytest.mark.slow
def test_bad_input_exits_2_with_a_clear_message(corpora, tmp_path):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("Caf\u00e9 au lait.\n".encode("latin-1"))
    res = harness_cli("llm-usage", "fit", "--human", str(bad), "--ai", str(corpora / "ai.parquet"), "--out", str(tmp_path / "t.csv"))
    assert res.returncode == 2 and "latin1.txt:1: not valid UTF-8" in res.stderr
    res = harness_cli("llm-usage", "estimate", "--table", str(tmp_path / "missing.csv"), "--corpus", str(corpora / "corpus.jsonl"))
    assert res.returncode == 2 and "word table not found" in res.stderr
    res = harness_cli("llm-usage", "validate", "--table", str(corpora / "table.csv"), "--alphas", "0,2")
    assert res.returncode == 2 and "--alphas" in res.stderr or "nothing to validate" in res.stderr


def test_command_group_is_registered_through_the_hook():
    import argparse

    from harness.pluginmanager import PluginManager

    pm = PluginManager().load()
    parser = argparse.ArgumentParser(prog="harness")
    sub = parser.add_subparsers(dest="command")
    pm.hook.harness_add_commands(subparsers=sub)
    args = parser.parse_args(["llm-usage", "estimate", "--table", "t.csv", "--corpus", "c.txt"])
    assert args.bootstrap == 1000 and callable(args.func)
