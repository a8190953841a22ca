"""Read benchmark ``details`` leniently: records as a list of objects or as nested mappings.

Plugins keep structured extras in ``details.<task>`` of the results file. These helpers turn
the shapes a plugin may reasonably use into flat records, so a plot reads one form:

* ``[{"method": "das", "layer": 3, "value": 1.2}, ...]``    a list of records, or
* ``{"das": {"3": 1.2}}``                                  nested mappings keyed by the fields.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Sequence


class MissingDetail(LookupError):
    """The details lack what a plot needs; the message says what (the plot is skipped)."""


class NotApplicable(Exception):
    """This plot kind does not apply to these results (e.g. no validation tasks): no plot, no note."""


def first_key(mapping: Any, names: Iterable[str]) -> tuple[str, Any]:
    """The first of ``names`` present in ``mapping`` (compared case-insensitively)."""
    if not isinstance(mapping, dict):
        raise MissingDetail("details are missing" if mapping is None else f"details are a {type(mapping).__name__}, not an object")
    lowered = {str(k).lower(): k for k in mapping}
    names = list(names)
    for name in names:
        if name.lower() in lowered:
            key = lowered[name.lower()]
            return key, mapping[key]
    raise MissingDetail("no " + " / ".join(f"'{n}'" for n in names) + " in details")


def number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        out = float(value)
    except ValueError:
        return None
    return out if math.isfinite(out) else None


def pick_key(record: dict[str, Any], names: Sequence[str], exclude: str | None = None) -> tuple[str | None, Any]:
    """``(name, value)`` of the first of ``names`` in ``record`` (case-insensitive), skipping ``exclude``."""
    lowered = {str(k).lower(): v for k, v in record.items()}
    for name in names:
        if name.lower() in lowered and name.lower() != exclude:
            return name.lower(), lowered[name.lower()]
    return None, None


def pick(record: dict[str, Any], names: Sequence[str]) -> Any:
    """The value of the first of ``names`` in ``record`` (case-insensitive), else ``None``."""
    return pick_key(record, names)[1]


def flatten(obj: Any, fields: Sequence[str], value_name: str = "value", record_keys: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Records from a list of objects, or from mappings nested up to ``len(fields)`` deep.

    A leaf may be a number (stored under ``value_name``) or an object merged into the record;
    an object holding any of ``record_keys`` is a leaf even above the deepest level.
    """
    wanted = {k.lower() for k in record_keys}
    if isinstance(obj, list):
        return [dict(r) for r in obj if isinstance(r, dict)]
    records: list[dict[str, Any]] = []

    def walk(node: Any, depth: int, prefix: dict[str, Any]) -> None:
        is_record = isinstance(node, dict) and any(str(k).lower() in wanted for k in node)
        if isinstance(node, dict) and depth < len(fields) and not is_record:
            for key, child in node.items():
                walk(child, depth + 1, {**prefix, fields[depth]: key})
        elif isinstance(node, dict):
            records.append({**prefix, **node})
        elif number(node) is not None:
            records.append({**prefix, value_name: node})

    walk(obj, 0, {})
    return records


def sort_key(value: Any) -> tuple[int, float, str]:
    """Order numbers numerically and other labels by text (numbers first)."""
    n = number(value)
    return (0, n, "") if n is not None else (1, 0.0, str(value))
