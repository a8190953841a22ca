"""Lenient exact match and the TriviaQA / NQ-open / HotpotQA loaders."""

import json

import pytest

from harness_plugins.activation_decoding.benchmarks import DATA_DIR
from harness_plugins.activation_decoding.openqa import QAFormatError, clean_prediction, lenient_match, load_qa, normalize_answer, qa_prompt


def test_squad_normalisation():
    assert normalize_answer("  The Eiffel-Tower!! ") == "eiffeltower"
    assert normalize_answer("An apple a day") == "apple day"


@pytest.mark.parametrize("pred, golds, expected", [
    ("Paris", ["Paris"], 1.0),
    ("paris.", ["Paris"], 1.0),                       # case and punctuation
    ("The city of Paris, France", ["Paris"], 1.0),   # prediction contains the gold
    ("Leonardo", ["Leonardo da Vinci"], 1.0),        # gold contains the prediction
    ("Lyon", ["Paris", "City of Light"], 0.0),
    ("", ["Paris"], 0.0),                            # empty prediction scores 0
    ("the", ["Paris"], 0.0),                         # empty after normalisation
    ("anything", ["The"], 0.0),                      # an alias that normalises to nothing never matches
    ("Seven", ["7", "seven"], 1.0),                  # max over aliases
])
def test_lenient_match(pred, golds, expected):
    assert lenient_match(pred, golds) == expected


def test_word_containment():
    assert lenient_match("100", ["0"]) == 1.0  # the paper's character containment
    assert lenient_match("100", ["0"], containment="words") == 0.0
    assert lenient_match("It is 0 degrees", ["0"], containment="words") == 1.0
    assert lenient_match("Leonardo", ["Leonardo da Vinci"], containment="words") == 1.0
    with pytest.raises(ValueError, match="containment"):
        lenient_match("a", ["a"], containment="fuzzy")


def test_prompt_and_cleaning():
    p = qa_prompt("Who?", shots=[("A?", "a")])
    assert p == "Q: A?\nA: a\n\nQ: Who?\nA:"
    assert clean_prediction(" Paris\n\nQ: next") == "Paris"


def test_formats(tmp_path):
    trivia = tmp_path / "trivia.json"
    trivia.write_text(json.dumps({"Data": [{"Question": "Q1?", "QuestionId": "tq1", "Answer": {"Value": "Rome", "Aliases": ["Roma", "Rome"]}}]}))
    assert [(i.id, i.question, i.answers) for i in load_qa(trivia)] == [("tq1", "Q1?", ["Rome", "Roma"])]
    hub_trivia = tmp_path / "trivia_hub.jsonl"
    hub_trivia.write_text(json.dumps({"question": "Q?", "question_id": "x", "answer": {"value": "A", "aliases": ["a1"]}}) + "\n")
    assert load_qa(hub_trivia)[0].answers == ["A", "a1"]
    nq = tmp_path / "nq.jsonl"
    nq.write_text('{"question": "q1", "answer": ["x", "y"]}\n\n{"question": "q2", "answer": ["z"]}\n')
    assert [i.answers for i in load_qa(nq)] == [["x", "y"], ["z"]]
    hotpot = tmp_path / "hotpot.json"
    hotpot.write_text(json.dumps([{"_id": "h1", "question": "Which?", "answer": "yes", "type": "comparison", "supporting_facts": [], "context": []}]))
    assert [(i.id, i.answers) for i in load_qa(hotpot)] == [("h1", ["yes"])]
    assert len(load_qa(DATA_DIR / "openqa_sample.jsonl")) == 30
    assert len(load_qa(DATA_DIR / "openqa_sample.jsonl", limit=4)) == 4


def test_bad_files_are_reported(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "answer": ["a"]}\n{oops\n')
    with pytest.raises(QAFormatError, match=r"bad.jsonl:2: invalid JSON"):
        load_qa(bad)
    odd = tmp_path / "odd.jsonl"
    odd.write_text('{"question": "q", "label": 3}\n')
    with pytest.raises(QAFormatError, match="cannot tell the QA format"):
        load_qa(odd)
    missing = tmp_path / "missing.jsonl"
    missing.write_text('{"question": "q", "answer": ["a"]}\n{"answer": ["b"]}\n')
    with pytest.raises(QAFormatError, match=r"record #1: missing or malformed field 'question'"):
        load_qa(missing, fmt="nq_open")
    with pytest.raises(QAFormatError, match="unknown QA format"):
        load_qa(missing, fmt="squad")
