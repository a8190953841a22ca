"""Read corpora in chunks of tokenised sentences, so memory stays flat however large they are.

Accepted files:

* ``.txt``: plain text; blank lines separate documents (paragraphs), lines are joined.
* ``.jsonl`` / ``.csv`` / ``.parquet``: one document per row in a text column; a column of
  *lists* of strings is taken as pre-tokenised sentences (one sentence per row), the format
  of the paper's released parquet files (``human_sentence``, ``ai_sentence``,
  ``inference_sentence``).

Every chunk holds the kept sentences as an Arrow ``list<string>`` array (words already
lower-cased and filtered, see :mod:`harness_plugins.llm_usage.text`) plus, on request, one group
label per sentence (``--group-by``). Bad input raises :class:`CorpusError` naming the file,
line or column and what was expected.
"""

from __future__ import annotations

import csv
import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from harness_plugins.llm_usage.sotu_corpus import is_sotu, parse_spec, sotu_paragraphs
from harness_plugins.llm_usage.text import clean_tokens, document_sentences, drop_reason

DEFAULT_CHUNK = 50_000
TEXT_SUFFIXES = {".txt", ".text", ".md"}
FORMATS = {".txt": "txt", ".text": "txt", ".md": "txt", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
PREFERRED_COLUMNS = ("text", "sentence", "inference_sentence", "human_sentence", "ai_sentence")


class CorpusError(ValueError):
    """A corpus file cannot be read as asked; the message says where and what was expected."""


@dataclass
class Chunk:
    """A batch of kept sentences: ``sentences`` is a ``pyarrow.ListArray`` of words."""

    sentences: Any
    groups: list[str] | None = None

    def __len__(self) -> int:
        return len(self.sentences)


def corpus_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise CorpusError(f"{path}: unknown corpus format {path.suffix!r} (expected one of {', '.join(sorted(FORMATS))})")
    return fmt


def iter_chunks(path: str | Path, text_column: str | None = None, group_column: str | None = None, chunk_size: int = DEFAULT_CHUNK,
                dropped: Counter | None = None) -> Iterator[Chunk]:
    """Yield :class:`Chunk` objects of at most ``chunk_size`` sentences; raise if none is kept.

    ``path`` may also be ``sotu:YEAR``, the embedded human corpus (see :mod:`.sotu_corpus`).
    ``dropped``, when given, counts the sentences left out, by reason (see
    :data:`~harness_plugins.llm_usage.text.DROP_REASONS`), so ``fit`` can say what it did not use.
    """
    if is_sotu(path):
        if group_column:
            raise CorpusError(f"{path}: the embedded corpus has no columns to group by")
        rows = ((text, None) for _, text in sotu_paragraphs(parse_spec(str(path))))
        yield from _rows_to_chunks(rows, chunk_size, False, dropped)
        return
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{path}: corpus file not found")
    fmt = corpus_format(path)
    if fmt == "txt" and group_column:
        raise CorpusError(f"{path}: --group-by {group_column!r} needs a .jsonl/.csv/.parquet corpus with that column")
    n_kept = 0
    if fmt == "parquet":
        source = _parquet_chunks(path, text_column, group_column, chunk_size, dropped)
    else:
        rows = {"txt": _txt_rows, "jsonl": _jsonl_rows, "csv": _csv_rows}[fmt](path, text_column, group_column)
        source = _rows_to_chunks(rows, chunk_size, group_column is not None, dropped)
    for chunk in source:
        n_kept += len(chunk)
        if len(chunk):
            yield chunk
    if n_kept == 0:
        raise CorpusError(f"{path}: no usable sentences (every sentence has at most one word after tokenising, or the file is empty)")


def read_sentences(path: str | Path, text_column: str | None = None) -> Any:
    """The whole corpus as one ``pyarrow.ListArray`` (for corpora that fit in memory)."""
    import pyarrow as pa

    return pa.concat_arrays([c.sentences for c in iter_chunks(path, text_column)])


def iter_documents(path: str | Path, text_column: str | None = None) -> Iterator[tuple[str, str]]:
    """``(id, text)`` per document, for generation: ids are ``FILE:ROW`` (1-based row or
    paragraph number) or the embedded corpus's paragraph ids; pre-tokenised rows are joined
    with spaces."""
    if is_sotu(path):
        yield from sotu_paragraphs(parse_spec(str(path)))
        return
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{path}: corpus file not found")
    fmt = corpus_format(path)
    if fmt == "parquet":
        rows: Iterator[tuple[Any, Any]] = (row for batch in _parquet_rows(path, text_column, None) for row in batch)
    else:
        rows = {"txt": _txt_rows, "jsonl": _jsonl_rows, "csv": _csv_rows}[fmt](path, text_column, None)
    for number, (value, _) in enumerate(rows, start=1):
        yield f"{path.name}:{number}", value if isinstance(value, str) else " ".join(value)


# --- row sources (value, group) ------------------------------------------------------------


def _decode_error(path: Path, line: int, err: UnicodeDecodeError) -> CorpusError:
    return CorpusError(f"{path}:{line}: not valid UTF-8 ({err.reason} at byte {err.start} of that line); re-encode the file as UTF-8")


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                yield lineno, raw.decode("utf-8-sig" if lineno == 1 else "utf-8")  # a BOM is not text
            except UnicodeDecodeError as err:
                raise _decode_error(path, lineno, err) from None


def _txt_rows(path: Path, text_column: str | None, group_column: str | None) -> Iterator[tuple[str, None]]:
    paragraph: list[str] = []
    for _, line in _lines(path):
        if line.strip():
            paragraph.append(line)
        elif paragraph:
            yield "".join(paragraph), None
            paragraph = []
    if paragraph:
        yield "".join(paragraph), None


def _pick_column(path: Path, columns: list[str], wanted: str | None, where: str = "") -> str:
    if wanted is not None:
        if wanted not in columns:
            raise CorpusError(f"{path}{where}: no column {wanted!r} (columns: {', '.join(columns) or 'none'})")
        return wanted
    for name in PREFERRED_COLUMNS:
        if name in columns:
            return name
    if len(columns) == 1:
        return columns[0]
    raise CorpusError(f"{path}{where}: cannot tell which column holds the text (columns: {', '.join(columns)}); pass --text-column")


def _check_value(path: Path, where: str, column: str, value: Any) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    raise CorpusError(f"{path}{where}: column {column!r} must hold a string or a list of strings, got {type(value).__name__}")


def _jsonl_rows(path: Path, text_column: str | None, group_column: str | None) -> Iterator[tuple[Any, str | None]]:
    column = text_column
    for lineno, line in _lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise CorpusError(f"{path}:{lineno}: not a JSON object ({err.msg} at column {err.colno})") from None
        if not isinstance(record, dict):
            raise CorpusError(f"{path}:{lineno}: expected a JSON object per line, got {type(record).__name__}")
        if column is None:
            column = _pick_column(path, list(record), None, f":{lineno}")
        if column not in record:
            raise CorpusError(f"{path}:{lineno}: no field {column!r} (fields: {', '.join(record)})")
        group = None
        if group_column is not None:
            if group_column not in record:
                raise CorpusError(f"{path}:{lineno}: no group field {group_column!r} (fields: {', '.join(record)})")
            group = str(record[group_column])
        yield _check_value(path, f":{lineno}", column, record[column]), group


def _csv_rows(path: Path, text_column: str | None, group_column: str | None) -> Iterator[tuple[str, str | None]]:
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:  # -sig: a BOM is not part of the first column's name
            reader = csv.DictReader(fh)
            columns = list(reader.fieldnames or [])
            if not columns:
                return
            column = _pick_column(path, columns, text_column, ":1")
            if group_column is not None and group_column not in columns:
                raise CorpusError(f"{path}:1: no group column {group_column!r} (columns: {', '.join(columns)})")
            for record in reader:
                yield (record[column] or ""), (record[group_column] if group_column else None)
    except UnicodeDecodeError as err:
        raise CorpusError(f"{path}: not valid UTF-8 ({err.reason} at byte {err.start} of a read block); re-encode the file as UTF-8") from None
    except csv.Error as err:
        raise CorpusError(f"{path}: malformed CSV ({err})") from None


def _rows_to_chunks(rows: Iterator[tuple[Any, str | None]], chunk_size: int, with_groups: bool,
                    dropped: Counter | None = None) -> Iterator[Chunk]:
    import pyarrow as pa

    sentences: list[list[str]] = []
    groups: list[str] = []
    for value, group in rows:
        if isinstance(value, str):
            kept = list(document_sentences(value, dropped))
        else:
            words = clean_tokens(value)
            kept = [words] if words is not None else []
            if words is None and dropped is not None:
                dropped[drop_reason(sum(1 for t in value if t and not t.isdecimal()))] += 1
        sentences.extend(kept)
        if with_groups:
            groups.extend([group] * len(kept))
        if len(sentences) >= chunk_size:
            yield Chunk(pa.array(sentences, type=pa.list_(pa.string())), groups if with_groups else None)
            sentences, groups = [], []
    yield Chunk(pa.array(sentences, type=pa.list_(pa.string())), groups if with_groups else None)


# --- parquet: vectorised for pre-tokenised columns ---------------------------------------------


def _parquet_file(path: Path) -> Any:
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except Exception as err:  # noqa: BLE001 - pyarrow raises several types for a bad file
        raise CorpusError(f"{path}: not a readable parquet file ({err})") from None


def _parquet_columns(path: Path, text_column: str | None, group_column: str | None) -> tuple[Any, str]:
    import pyarrow as pa

    pf = _parquet_file(path)
    schema = pf.schema_arrow
    columns = [f.name for f in schema]
    column = _pick_column(path, columns, text_column)
    if group_column is not None and group_column not in columns:
        raise CorpusError(f"{path}: no group column {group_column!r} (columns: {', '.join(columns)})")
    kind = schema.field(column).type
    is_list = pa.types.is_list(kind) or pa.types.is_large_list(kind)
    value_type = kind.value_type if is_list else kind
    if not (pa.types.is_string(value_type) or pa.types.is_large_string(value_type)):
        raise CorpusError(f"{path}: column {column!r} has type {kind}; expected strings (documents) or lists of strings (tokenised sentences)")
    return pf, column


def _parquet_rows(path: Path, text_column: str | None, group_column: str | None) -> Iterator[list[tuple[Any, str | None]]]:
    pf, column = _parquet_columns(path, text_column, group_column)
    wanted = [column] + ([group_column] if group_column else [])
    for batch in pf.iter_batches(batch_size=10_000, columns=wanted):
        values = batch.column(0).to_pylist()
        groups = [str(g) for g in batch.column(1).to_pylist()] if group_column else [None] * len(values)
        yield [(v if v is not None else "", g) for v, g in zip(values, groups)]


def _parquet_chunks(path: Path, text_column: str | None, group_column: str | None, chunk_size: int,
                    dropped: Counter | None = None) -> Iterator[Chunk]:
    import pyarrow as pa

    pf, column = _parquet_columns(path, text_column, group_column)
    if not pa.types.is_list(pf.schema_arrow.field(column).type) and not pa.types.is_large_list(pf.schema_arrow.field(column).type):
        rows = (row for batch in _parquet_rows(path, column, group_column) for row in batch)
        yield from _rows_to_chunks(rows, chunk_size, group_column is not None, dropped)
        return
    wanted = [column] + ([group_column] if group_column else [])
    for batch in pf.iter_batches(batch_size=chunk_size, columns=wanted):
        groups = [str(g) for g in batch.column(1).to_pylist()] if group_column else None
        sentences, keep = clean_token_lists(batch.column(0), dropped)
        if groups is not None:
            groups = [g for g, k in zip(groups, keep.to_pylist()) if k]
        yield Chunk(sentences, groups)


def list_rows(lists: Any) -> Any:
    """Row index of every flattened value of an Arrow list array without nulls
    (``pc.list_parent_indices`` is ~50x slower on pyarrow 26)."""
    import numpy as np

    offsets = lists.offsets.to_numpy()
    return np.repeat(np.arange(len(lists), dtype=np.int64), np.diff(offsets))


def clean_token_lists(lists: Any, dropped: Counter | None = None) -> tuple[Any, Any]:
    """Vectorised :func:`~harness_plugins.llm_usage.text.clean_tokens` over an Arrow list array:
    returns the kept sentences and the boolean mask of kept rows (``dropped`` counts the rest)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    lists = lists.cast(pa.list_(pa.string())) if not pa.types.is_list(lists.type) or lists.type.value_type != pa.string() else lists
    if lists.null_count:
        lists = pc.fill_null(lists, pa.scalar([], type=pa.list_(pa.string())))
    flat = pc.list_flatten(lists)
    parents = list_rows(lists)
    flat = pc.fill_null(flat, "")
    keep_token = pc.and_(pc.invert(pc.utf8_is_decimal(flat)), pc.greater(pc.utf8_length(flat), 0)).to_numpy(zero_copy_only=False)
    words = pc.utf8_lower(pc.filter(flat, pa.array(keep_token)))
    counts = np.bincount(parents[keep_token], minlength=len(lists))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    cleaned = pa.ListArray.from_arrays(pa.array(offsets), words)
    keep_row = pa.array(counts > 1)
    if dropped is not None:
        dropped["no_words"] += int(np.sum(counts == 0))
        dropped["one_word"] += int(np.sum(counts == 1))
    return pc.filter(cleaned, keep_row), keep_row
