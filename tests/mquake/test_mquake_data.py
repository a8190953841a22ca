"""Loader: the MQuAKE schema, errors that name file/case/field, k-grouping."""

from __future__ import annotations

import json

import pytest

from harness_plugins.mquake.data import MQuAKEDataError, group_cases, group_edits, load_cases, parse_case, parse_cases, parse_k
from tests.conftest import refdata
from tests.mquake.conftest import make_case


def test_parse_case_fields(raw_case):
    case = parse_case(raw_case)
    assert case.case_id == "1" and case.n_hops == 3
    edit = case.edits[0]
    assert edit.cloze == "Bill Gates is a citizen of"
    assert edit.sentence == "Bill Gates is a citizen of Brazil"
    assert edit.target_true == "United States of America" and edit.target_new_id == "Q155"
    assert case.new_answers() == ("South America", "South American continent")
    assert case.original_answers() == ("North America", "NA")


def test_answer_extended_is_accepted_for_unedited(raw_case):
    raw_case["answer_extended"] = ["Americas"]
    assert "Americas" in parse_case(raw_case).original_answers()


@pytest.mark.parametrize("mutate, field", [
    (lambda c: c.pop("new_answer"), "'new_answer'"),
    (lambda c: c["requested_rewrite"][0].__setitem__("prompt", "no slot here"), "'requested_rewrite[0].prompt'"),
    (lambda c: c["requested_rewrite"][0]["target_new"].__setitem__("str", 5), "'requested_rewrite[0].target_new.str'"),
    (lambda c: c.__setitem__("questions", "one string"), "'questions'"),
    (lambda c: c["new_single_hops"].pop(), "'new_single_hops'"),
    (lambda c: c["single_hops"][1].pop("answer"), "'single_hops[1].answer'"),
    (lambda c: c.__setitem__("answer_extended", [1]), "'answer_extended'"),
])
def test_schema_errors_name_the_field(raw_case, mutate, field):
    mutate(raw_case)
    with pytest.raises(MQuAKEDataError) as err:
        parse_cases([make_case(0), raw_case], source="cases.json")
    msg = str(err.value)
    assert "cases.json: case #1 (case_id=1)" in msg and field in msg


def test_file_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"case_id": 1,\n  oops}]')
    with pytest.raises(MQuAKEDataError, match=r"bad\.json:2:\d+: invalid JSON"):
        load_cases(bad)
    with pytest.raises(MQuAKEDataError, match="not found"):
        load_cases(tmp_path / "missing.json")
    (tmp_path / "obj.json").write_text("{}")
    with pytest.raises(MQuAKEDataError, match="expected a JSON list"):
        load_cases(tmp_path / "obj.json")
    (tmp_path / "dup.json").write_text(json.dumps([make_case(3), make_case(3)]))
    with pytest.raises(MQuAKEDataError, match="duplicate case_id '3'"):
        load_cases(tmp_path / "dup.json")
    with pytest.raises(MQuAKEDataError, match="hf://OWNER/REPO"):
        load_cases("hf://only-one-part")


def test_shipped_cases_load():
    cases = load_cases("mquake_mini.json")  # found in tasks/mquake/data
    assert len(cases) == 8
    assert sorted({c.n_hops for c in cases}) == [2, 3, 4]
    assert all(len(c.questions) == 3 and c.edits for c in cases)


def test_group_cases_k():
    cases = [parse_case(make_case(i)) for i in range(7)]
    assert [len(g) for g in group_cases(cases, 3)] == [3, 3, 1]
    assert [c.case_id for g in group_cases(cases, 3) for c in g] == [str(i) for i in range(7)]
    assert [len(g) for g in group_cases(cases, 1)] == [1] * 7
    assert [len(g) for g in group_cases(cases, "all")] == [7]
    assert [len(g) for g in group_cases(cases, 100)] == [7]
    assert group_cases([], "all") == []
    for bad in (0, -1, "some", 1.5, True):
        with pytest.raises(ValueError, match="positive integer or 'all'"):
            parse_k(bad)


def test_group_edits_deduplicates_shared_edits():
    cases = [parse_case(make_case(i)) for i in range(3)]  # all three carry the same edit
    assert [e.sentence for e in group_edits(cases)] == ["Bill Gates is a citizen of Brazil"]


@pytest.mark.refdata
def test_reads_the_shared_hard_set():
    from harness_plugins.mquake.metrics import edited_hops

    cases = load_cases(refdata("mquake", "MQuAKE-hard-dev100.json"))
    assert len(cases) == 100 and all(c.n_hops == 4 and len(c.edits) == 4 and len(c.questions) == 3 for c in cases)
    assert all(all(e is not None for e in edited_hops(c)) for c in cases)
    assert len(group_edits(cases)) < 400  # cases share edits; the k=all memory stores each once
