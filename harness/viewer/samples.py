"""Page through a samples JSONL without reading it whole.

One pass records where each line starts (and notes corrupt lines); a page is then read by
seeking to its first line. Pages hold at most :data:`PAGE_RECORDS` records and stop early
once they reach :data:`PAGE_BYTES` of log, so a log of large records (a sweep logging every
method's score for every answer) still comes in pages a browser handles. Each record is
rendered through the plugins' ``harness_view_sample`` hook, falling back to the generic view.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from harness.textio import open_log
from harness.viewer.blocks import Block, Fields, Raw, generic_blocks

PAGE_RECORDS = 25
PAGE_BYTES = 512 * 1024


_ID = re.compile(rb'^\{"sample_id": ("(?:[^"\\]|\\.)*")')


@dataclass
class LineIndex:
    """Where each record of a log starts, its id, and how records group into pages.

    ``starts[n]`` is the byte offset of record ``n`` (the n-th non-empty line), ``lines[n]`` its
    line number in the file, ``ids[n]`` its sample id (``None`` when the line is not a record),
    and ``pages[p] = (first record, count)``.
    """

    path: Path
    stamp: tuple[int, int]
    starts: list[int] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    ids: list[str | None] = field(default_factory=list)
    pages: list[tuple[int, int]] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)  # records whose evaluation raised (an "error" field)

    @property
    def n_records(self) -> int:
        return len(self.starts)

    @classmethod
    def build(cls, path: Path) -> LineIndex:
        st = path.stat()
        index = cls(path, (st.st_size, st.st_mtime_ns))
        first, size, offset = 0, 0, 0
        with open_log(path) as fh:
            for line_no, line in enumerate(fh, 1):
                if line.strip():
                    count = len(index.starts) - first
                    if count and (count >= PAGE_RECORDS or size + len(line) > PAGE_BYTES):
                        index.pages.append((first, count))
                        first, size = len(index.starts), 0
                    index.starts.append(offset)
                    index.lines.append(line_no)
                    index.ids.append(_sample_id(line))
                    if b'"error": ' in line and _has_error(line):
                        index.failed.append(len(index.starts) - 1)
                    size += len(line)
                offset += len(line)
        if len(index.starts) > first:
            index.pages.append((first, len(index.starts) - first))
        return index

    def read(self, first: int, count: int) -> Iterator[tuple[int, dict[str, Any] | None, str]]:
        """``(record number, record or None, problem)`` for records ``first .. first+count-1``."""
        with open_log(self.path) as fh:
            fh.seek(self.starts[first])
            n = first
            while n < first + count:
                raw = fh.readline()
                if not raw:
                    break
                if not raw.strip():
                    continue
                try:
                    rec = json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError) as err:
                    last = n == self.n_records - 1
                    yield n, None, ("a torn last line (the run was killed while writing)" if last else f"not JSON ({err})")
                else:
                    yield (n, rec, "") if isinstance(rec, dict) else (n, None, f"expected a JSON object, got {type(rec).__name__}")
                n += 1

    def read_page(self, page: int) -> Iterator[tuple[int, dict[str, Any] | None, str]]:
        return self.read(*self.pages[page])

    def page_of(self, n: int) -> int:
        return next(p for p, (first, count) in enumerate(self.pages) if first <= n < first + count)


def _has_error(line: bytes) -> bool:
    try:
        rec = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False
    return isinstance(rec, dict) and bool(rec.get("error"))


def _sample_id(line: bytes) -> str | None:
    """The id from the start of a runner-written line, else from parsing the whole line."""
    m = _ID.match(line)
    try:
        if m:
            return str(json.loads(m[1]))
        rec = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return str(rec["sample_id"]) if isinstance(rec, dict) and "sample_id" in rec else None


class SampleStore:
    """Line indexes of the logs seen so far, rebuilt when a log changes (a run still writing)."""

    def __init__(self) -> None:
        self._indexes: dict[Path, LineIndex] = {}

    def index(self, path: Path) -> LineIndex:
        st = path.stat()
        found = self._indexes.get(path)
        if found is None or found.stamp != (st.st_size, st.st_mtime_ns):
            found = self._indexes[path] = LineIndex.build(path)
        return found


def render_record(pm: Any, benchmark: str, task: str, rec: dict[str, Any]) -> list[dict[str, Any]]:
    """The record's blocks: the first plugin that answers, else the generic view."""
    blocks: list[Block] | None = None
    note: list[Block] = []
    hook = getattr(getattr(pm, "pm", pm), "hook", None) if pm is not None else None
    impls = hook.harness_view_sample.get_hookimpls() if hook is not None else []
    for impl in reversed(impls):  # pluggy's call order: the last registered answers first
        try:
            blocks = impl.function(*[{"benchmark": benchmark, "task": task, "record": rec}[a] for a in impl.argnames])
        except Exception as err:  # noqa: BLE001 - a plugin's view must never hide the sample
            note = [Fields("Viewer note", [("plugin", impl.plugin_name), ("its view failed", f"{type(err).__name__}: {err}")])]
            blocks = None
            break
        if blocks is not None:
            break
    if blocks is None:
        blocks = generic_blocks(rec)
    if rec.get("error"):
        note.insert(0, Fields("Failed sample", [("error", rec["error"])]))
    return [b.to_json() for b in [*note, *blocks]]


def scalar_values(rec: dict[str, Any]) -> dict[str, Any]:
    """Numbers, strings and booleans of ``values`` (one level of nesting flattened as ``a.b``)."""
    out: dict[str, Any] = {}
    values = rec["values"] if isinstance(rec.get("values"), dict) else {}
    for key, value in values.items():
        if isinstance(value, dict):
            for sub, v in value.items():
                if v is None or isinstance(v, (int, float, str, bool)):
                    out[f"{key}.{sub}"] = v
        elif value is None or isinstance(value, (int, float, str, bool)):
            out[key] = value
    return out


def page_payload(store: SampleStore, path: Path, page: int) -> dict[str, Any]:
    """One page of a task's samples for the list and the filters (no rendered views: see record_payload)."""
    index = store.index(path)
    if not index.pages and page == 0:
        return {"page": 0, "n_pages": 0, "n_lines": 0, "records": []}
    if not 0 <= page < len(index.pages):
        raise IndexError(f"page {page} of {len(index.pages)}")
    records = []
    for n, rec, problem in index.read_page(page):
        if rec is None:
            records.append({"n": n, "id": f"line {index.lines[n]}", "line": index.lines[n], "problem": problem, "values": {}, "raw": None})
            continue
        records.append({"n": n, "id": _id(rec, index.lines[n]), "line": index.lines[n],
                        "error": str(rec["error"]) if rec.get("error") else "",
                        "values": scalar_values(rec), "doc": _filter_fields(rec.get("doc")), "raw": rec})
    return {"page": page, "n_pages": len(index.pages), "n_lines": index.n_records, "records": records}


def record_payload(store: SampleStore, pm: Any, path: Path, benchmark: str, task: str, n: int) -> dict[str, Any]:
    """Record ``n`` of a log with its rendered view."""
    index = store.index(path)
    if not 0 <= n < index.n_records:
        raise IndexError(f"record {n} of {index.n_records}")
    ((_, rec, problem),) = list(index.read(n, 1))
    line = index.lines[n]
    if rec is None:
        return {"n": n, "id": f"line {line}", "line": line, "page": index.page_of(n), "problem": problem, "blocks": [], "raw": None}
    return {"n": n, "id": _id(rec, line), "line": line, "page": index.page_of(n), "error": str(rec.get("error") or ""),
            "blocks": render_record(pm, benchmark, task, rec), "raw": rec}


def ids_payload(store: SampleStore, path: Path) -> dict[str, Any]:
    """Every record's sample id in order (the page finds a sample's record number from its id)."""
    index = store.index(path)
    return {"ids": index.ids}


def _id(rec: dict[str, Any], line: int) -> str:
    return str(rec.get("sample_id", f"line {line}"))


def _filter_fields(doc: Any) -> dict[str, Any]:
    """Scalar fields of the document (method, layer, site...) for ``key=value`` filters."""
    if not isinstance(doc, dict):
        return {}
    return {k: v for k, v in doc.items() if v is None or isinstance(v, (int, float, str, bool))}


def file_size(path: Path | None) -> int | None:
    return os.path.getsize(path) if path is not None and path.is_file() else None
