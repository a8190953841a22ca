"""Bad-input battery: every plugin's data-file readers (issue 16 point 10)."""

import json

import pytest

LATIN1 = "caf\xe9".encode("latin-1")  # not UTF-8


def bad_utf8(path, head: bytes = b"", tail: bytes = b""):
    path.write_bytes(head + LATIN1 + tail)
    return path


def test_truthfulqa_csv_not_utf8_names_file_and_line(tmp_path):
    from harness_plugins.activation_decoding.truthfulqa import TruthfulQAFormatError, read_csv

    path = bad_utf8(tmp_path / "tqa.csv", b"Type,Category,Question,Best Answer,Correct Answers,Incorrect Answers,Source\n"
                    b"A,B,Q?,yes,yes,no,s\nA,B,")
    with pytest.raises(TruthfulQAFormatError, match=r"tqa\.csv:3: not valid UTF-8"):
        read_csv(path)


def test_truthfulqa_json_not_utf8_names_the_file(tmp_path):
    from harness_plugins.activation_decoding.truthfulqa import TruthfulQAFormatError, load_truthfulqa

    with pytest.raises(TruthfulQAFormatError, match=r"tqa\.jsonl:1: not valid UTF-8"):
        load_truthfulqa(bad_utf8(tmp_path / "tqa.jsonl", b'{"question": "'))


def test_openqa_jsonl_not_utf8_names_file_and_line(tmp_path):
    from harness_plugins.activation_decoding.openqa import QAFormatError, load_qa

    path = bad_utf8(tmp_path / "qa.jsonl", b'{"question": "q", "answer": ["a"]}\n{"question": "')
    with pytest.raises(QAFormatError, match=r"qa\.jsonl:2: not valid UTF-8"):
        load_qa(path)


def test_llm_usage_csv_bom_is_not_part_of_the_first_column(tmp_path):
    from harness_plugins.llm_usage.corpus import iter_documents

    path = tmp_path / "docs.csv"
    path.write_bytes("\ufefftext,other\nhello world,x\n".encode("utf-8"))
    assert [text for _, text in iter_documents(path, "text")] == ["hello world"]


def test_llm_usage_jsonl_bom_is_accepted(tmp_path):
    from harness_plugins.llm_usage.corpus import iter_documents

    path = tmp_path / "docs.jsonl"
    path.write_bytes('\ufeff{"text": "hello"}\n'.encode("utf-8"))
    assert [text for _, text in iter_documents(path, "text")] == ["hello"]


def test_llm_usage_generated_jsonl_not_utf8_names_the_file(tmp_path):
    from harness_plugins.llm_usage.benchmark import _ai_documents
    from harness_plugins.llm_usage.corpus import CorpusError

    path = bad_utf8(tmp_path / "ai.jsonl", b'{"text": "ok", "source": "h1"}\n{"text": "')
    with pytest.raises(CorpusError, match=r"ai\.jsonl:2: not valid UTF-8"):
        _ai_documents(str(path), None)


def test_llm_usage_csv_not_utf8_names_the_file(tmp_path):
    from harness_plugins.llm_usage.corpus import CorpusError, iter_documents

    with pytest.raises(CorpusError, match=r"docs\.csv.*not valid UTF-8"):
        list(iter_documents(bad_utf8(tmp_path / "docs.csv", b"text\n"), "text"))


def test_causalgym_pairs_not_utf8_names_the_file(tmp_path):
    from harness_plugins.causalgym.pairs import PairDataError, load_pairs

    with pytest.raises(PairDataError, match=r"pairs\.jsonl:1: not valid UTF-8"):
        load_pairs(bad_utf8(tmp_path / "pairs.jsonl", b'{"base": "'))


def test_causalgym_templates_not_utf8_names_the_file(tmp_path):
    from harness_plugins.causalgym.templates import TemplateError, load_templates

    with pytest.raises(TemplateError, match=r"templates\.json:1: not valid UTF-8"):
        load_templates(bad_utf8(tmp_path / "templates.json", b'{"t": "'))


def test_ravel_files_not_utf8_name_the_file(tmp_path):
    from harness_plugins.ravel.data import RavelDataError, file_names, load_entity_type

    for name in file_names("city").values():
        (tmp_path / name).write_text("{}")
    bad = tmp_path / file_names("city")["entity_to_split"]
    bad_utf8(bad, b'{"')
    with pytest.raises(RavelDataError, match=rf"{bad.name}:1: not valid UTF-8"):
        load_entity_type(tmp_path, "city")


def test_mquake_invalid_json_names_line_and_column(tmp_path):
    from harness_plugins.mquake.data import MQuAKEDataError, load_cases

    path = tmp_path / "cases.json"
    path.write_text('[\n  {"case_id": 1,\n  oops\n]')
    with pytest.raises(MQuAKEDataError, match=r"cases\.json:3:\d+: invalid JSON"):
        load_cases(path)
    path.write_bytes(b"[" + LATIN1 + b"]")
    with pytest.raises(MQuAKEDataError, match=r"cases\.json: not UTF-8"):
        load_cases(path)


def test_a_bad_data_file_fails_its_task_with_the_file_name_and_no_traceback(tmp_path, tiny_model_dir):
    from testutil import run_cli

    pairs = bad_utf8(tmp_path / "pairs.jsonl", b'{"base": "')
    (tmp_path / "t.yaml").write_text(f"task: cg_bad_pairs\nbenchmark: causalgym\nargs: {{pairs: {json.dumps(str(pairs))}}}\n")
    res = run_cli(["--include-path", str(tmp_path), "run", "--tasks", "cg_bad_pairs", "--no-progress",
                   "--model-args", f"pretrained={tiny_model_dir}", "--output-path", str(tmp_path / "out")])
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr  # bad input, like a bad task file
    assert "task cg_bad_pairs failed" in res.stderr and "pairs.jsonl:1: not valid UTF-8" in res.stderr
    doc = json.loads(next((tmp_path / "out").glob("*/results_*.json")).read_text())
    assert "pairs.jsonl:1" in doc["errors"]["cg_bad_pairs"]
