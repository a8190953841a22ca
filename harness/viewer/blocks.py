"""What a plugin's ``harness_view_sample`` hook returns: a list of typed blocks.

Blocks carry plain data (strings and numbers), never HTML: the page builds every element
with ``textContent``, so a sample's text cannot inject markup whatever a plugin passes in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Sequence

from harness.results import json_safe


@dataclass
class Fields:
    """Labelled values, one per line (``items`` is ``[(label, value), ...]``)."""

    title: str
    items: Sequence[tuple[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {"kind": "fields", "title": self.title, "items": [[str(k), json_safe(v)] for k, v in self.items]}


@dataclass
class Text:
    """A passage shown as typed (whitespace kept): a prompt, a generation."""

    title: str
    text: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": "text", "title": self.title, "text": str(self.text)}


@dataclass
class Table:
    """A small table; ``highlight`` names row indexes to mark (a chosen answer, a hit)."""

    title: str
    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]
    highlight: Sequence[int] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {"kind": "table", "title": self.title, "columns": [str(c) for c in self.columns],
                "rows": [[json_safe(v) for v in r] for r in self.rows], "highlight": list(self.highlight)}


@dataclass
class Raw:
    """Any JSON value, shown pretty-printed (the generic fallback's doc and log)."""

    title: str
    value: Any

    def to_json(self) -> dict[str, Any]:
        return {"kind": "text", "title": self.title,
                "text": json.dumps(json_safe(self.value), indent=2, ensure_ascii=False)}


Block = Fields | Text | Table | Raw


def fmt(value: Any, digits: int = 4) -> str:
    """A number rounded for reading (``None`` as ``—``); other values as text."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def generic_blocks(record: dict[str, Any]) -> list[Block]:
    """The fallback for a benchmark whose plugin does not render its samples: values, doc, log."""
    values = record.get("values") or {}
    blocks: list[Block] = []
    scalars = [(k, v) for k, v in values.items() if not isinstance(v, (dict, list))]
    if scalars:
        blocks.append(Fields("Values", scalars))
    nested = {k: v for k, v in values.items() if isinstance(v, (dict, list))}
    if nested:
        blocks.append(Raw("Other values", nested))
    for title, part in (("Document", record.get("doc")), ("Log", record.get("log"))):
        if isinstance(part, dict) and part:
            flat = [(k, v) for k, v in part.items() if not isinstance(v, (dict, list))]
            rest = {k: v for k, v in part.items() if isinstance(v, (dict, list))}
            if flat:
                blocks.append(Fields(title, flat))
            if rest:
                blocks.append(Raw(f"{title} (structured)" if flat else title, rest))
        elif part:
            blocks.append(Raw(title, part))
    return blocks
