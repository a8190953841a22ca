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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from harness.viewer.blocks import Block, Fields, Raw, generic_blocks

PAGE_RECORDS = 25
PAGE_BYTES = 512 * 1024


@dataclass
class LineIndex:
    """Where each page of a log starts: ``pages[i] = (offset, n_lines)``."""

    path: Path
    stamp: tuple[int, int]
    pages: list[tuple[int, int]] = field(default_factory=list)
    n_lines: int = 0

    @classmethod
    def build(cls, path: Path) -> LineIndex:
        st = path.stat()
        index = cls(path, (st.st_size, st.st_mtime_ns))
        start, count, size = 0, 0, 0
        offset = 0
        with path.open("rb") as fh:
            for line in fh:
                if line.strip():
                    if count and (count >= PAGE_RECORDS or size + len(line) > PAGE_BYTES):
                        index.pages.append((start, count))
                        start, count, size = offset, 0, 0
                    count += 1
                    size += len(line)
                    index.n_lines += 1
                elif not count:
                    start = offset + len(line)
                offset += len(line)
        if count:
            index.pages.append((start, count))
        return index

    def read_page(self, page: int) -> Iterator[tuple[int, dict[str, Any] | None, str]]:
        """``(line number, record or None, problem)`` for each line of ``page``."""
        offset, n = self.pages[page]
        line_no = sum(c for _, c in self.pages[:page])
        with self.path.open("rb") as fh:
            fh.seek(offset)
            seen = 0
            while seen < n:
                raw = fh.readline()
                if not raw:
                    break
                if not raw.strip():
                    continue
                seen += 1
                line_no += 1
                try:
                    rec = json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError) as err:
                    last = line_no == self.n_lines
                    yield line_no, None, ("a torn last line (the run was killed while writing)" if last
                                          else f"not JSON ({err})")
                    continue
                if not isinstance(rec, dict):
                    yield line_no, None, f"expected a JSON object, got {type(rec).__name__}"
                    continue
                yield line_no, rec, ""


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
    values = rec.get("values") if isinstance(rec.get("values"), dict) else {}
    for key, value in values.items():
        if isinstance(value, dict):
            for sub, v in value.items():
                if v is None or isinstance(v, (int, float, str, bool)):
                    out[f"{key}.{sub}"] = v
        elif value is None or isinstance(value, (int, float, str, bool)):
            out[key] = value
    return out


def page_payload(store: SampleStore, pm: Any, path: Path, benchmark: str, task: str, page: int) -> dict[str, Any]:
    """One page of a task's samples as the page reads it."""
    index = store.index(path)
    if not index.pages:
        return {"page": 0, "n_pages": 0, "n_lines": 0, "records": []}
    if not 0 <= page < len(index.pages):
        raise IndexError(f"page {page} of {len(index.pages)}")
    records = []
    for line_no, rec, problem in index.read_page(page):
        if rec is None:
            records.append({"id": f"line {line_no}", "line": line_no, "problem": problem, "values": {}, "blocks": [], "raw": None})
            continue
        records.append({
            "id": str(rec.get("sample_id", f"line {line_no}")),
            "line": line_no,
            "error": str(rec["error"]) if rec.get("error") else "",
            "values": scalar_values(rec),
            "doc": _filter_fields(rec.get("doc")),
            "blocks": render_record(pm, benchmark, task, rec),
            "raw": rec,
        })
    return {"page": page, "n_pages": len(index.pages), "n_lines": index.n_lines, "records": records}


def _filter_fields(doc: Any) -> dict[str, Any]:
    """Scalar fields of the document (method, layer, site...) for ``key=value`` filters."""
    if not isinstance(doc, dict):
        return {}
    return {k: v for k, v in doc.items() if v is None or isinstance(v, (int, float, str, bool))}


def file_size(path: Path | None) -> int | None:
    return os.path.getsize(path) if path is not None and path.is_file() else None
