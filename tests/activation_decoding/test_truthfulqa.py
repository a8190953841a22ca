"""TruthfulQA loaders (CSV and hub records), the prompt, and MC1/MC2/MC3 by hand."""

import json
import math
from pathlib import Path

import pytest

from harness_plugins.activation_decoding.benchmarks import DATA_DIR
from harness_plugins.activation_decoding.truthfulqa import (
    QA_PRIMER,
    MCQuestion,
    TruthfulQAFormatError,
    from_hub_record,
    load_truthfulqa,
    mc_metrics,
    mc_prompt,
    split_answers,
)

REFDATA = Path(__file__).resolve().parents[3] / "shared" / "refdata" / "truthfulqa" / "TruthfulQA-dev400.csv"


def test_split_answers_closes_and_drops_empty():
    assert split_answers("Yes; no.;  ; It is red") == ["Yes.", "no.", "It is red."]


def test_shipped_sample_loads():
    items = load_truthfulqa(DATA_DIR / "truthfulqa_sample.csv")
    assert len(items) == 20
    for q in items:
        assert q.best in q.correct and q.correct and q.incorrect
        assert all(a.endswith(".") for a in q.correct + q.incorrect)
    assert len({q.id for q in items}) == 20


def test_csv_errors_name_file_line_and_field(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("Question,Best Answer,Correct Answers\nq,a,b\n")
    with pytest.raises(TruthfulQAFormatError, match=r"bad.csv:1: missing column\(s\) \['Incorrect Answers'\]"):
        load_truthfulqa(bad)
    bad.write_text("Question,Best Answer,Correct Answers,Incorrect Answers\nq,a,b,c\nq2,a,,c\n")
    with pytest.raises(TruthfulQAFormatError, match=r"bad.csv:3: field 'Correct Answers' is empty"):
        load_truthfulqa(bad)


def test_hub_records(tmp_path):
    rec = {"question": "Q?", "mc1_targets": {"choices": ["Best.", "W1.", "W2."], "labels": [1, 0, 0]},
           "mc2_targets": {"choices": ["Best.", "Also.", "W1.", "W3."], "labels": [1, 1, 0, 0]}}
    q = from_hub_record(rec, 0)
    assert (q.best, q.correct, q.incorrect, q.mc1_incorrect) == ("Best.", ["Best.", "Also."], ["W1.", "W3."], ["W1.", "W2."])
    path = tmp_path / "tqa.jsonl"
    path.write_text(json.dumps(rec) + "\n" + json.dumps(rec) + "\n")
    assert len(load_truthfulqa(path)) == 2
    broken = dict(rec, mc1_targets={"choices": ["a", "b"], "labels": [1, 1]})
    with pytest.raises(TruthfulQAFormatError, match="exactly one label 1"):
        from_hub_record(broken, 3)


def test_missing_file_that_is_no_hub_id_is_reported():
    with pytest.raises(TruthfulQAFormatError, match="neither an existing file nor a loadable hub dataset"):
        load_truthfulqa("no/such-dataset-here")


def test_prompt_is_primer_plus_question():
    p = mc_prompt("Why?")
    assert p == QA_PRIMER + "\n\nQ: Why?\nA:"
    assert mc_prompt("Why?", instruction=True).endswith(p) and mc_prompt("Why?", instruction=True).startswith("Interpret each question")


def test_mc_metrics_by_hand():
    scores = {"A.": -1.0, "B.": -2.0, "C.": -5.0, "X.": -3.0, "Y.": -1.5}
    q = MCQuestion("x", "q", best="B.", correct=["A.", "B.", "C."], incorrect=["X.", "Y."])
    m = mc_metrics(scores, q)
    assert m["mc1"] == 0.0  # the best answer (-2.0) loses to Y (-1.5)
    e = {a: math.exp(s) for a, s in scores.items()}
    assert math.isclose(m["mc2"], (e["A."] + e["B."] + e["C."]) / sum(e.values()), rel_tol=1e-12)
    assert m["mc3"] == pytest.approx(1 / 3)  # only A (-1.0) beats Y (-1.5)
    q_a = MCQuestion("x", "q", best="A.", correct=["A.", "B.", "C."], incorrect=["X.", "Y."])
    assert mc_metrics(scores, q_a)["mc1"] == 1.0


def test_mc1_uses_its_own_incorrect_set_and_ties_lose():
    scores = {"A.": -1.0, "X.": -1.0, "Z.": -0.5}
    q = MCQuestion("x", "q", best="A.", correct=["A."], incorrect=["X."], mc1_incorrect=["X."])
    assert mc_metrics(scores, q)["mc1"] == 0.0 and mc_metrics(scores, q)["mc3"] == 0.0
    assert mc_metrics(scores, q)["mc2"] == pytest.approx(0.5)
    q2 = MCQuestion("x", "q", best="A.", correct=["A."], incorrect=["Z."], mc1_incorrect=["X."])
    scores["X."] = -2.0
    assert mc_metrics(scores, q2)["mc1"] == 1.0


def test_mc2_is_stable_for_very_negative_scores():
    scores = {"A.": -2000.0, "X.": -2001.0}
    q = MCQuestion("x", "q", best="A.", correct=["A."], incorrect=["X."])
    assert mc_metrics(scores, q)["mc2"] == pytest.approx(1 / (1 + math.exp(-1)))


@pytest.mark.refdata
@pytest.mark.skipif(not REFDATA.exists(), reason="../shared/refdata is absent")
def test_reference_csv_reads():
    items = load_truthfulqa(REFDATA)
    assert len(items) == 400
    assert all(q.best in q.correct for q in items)
    assert items[0].question == "What happens to you if you eat watermelon seeds?"
    assert sum(len(q.answers()) for q in items) > 2000
