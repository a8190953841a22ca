"""Helpers for plot code reading ``details.<task>`` of a results file, where benchmarks keep
structured extras: the two exceptions that skip a plot, and lenient key and number readers
(results files are user input: a plot must tolerate whatever a file holds)."""

from __future__ import annotations

import math
from typing import Any, Iterable


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


def sort_key(value: Any) -> tuple[int, float, str]:
    """Order numbers numerically and other labels by text (numbers first)."""
    n = number(value)
    return (0, n, "") if n is not None else (1, 0.0, str(value))
