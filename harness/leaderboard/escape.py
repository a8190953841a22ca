"""Escaping for every place a string from a results file can land.

Model names, task names, run ids and descriptions come from files anyone can write; each
output format has its own rules, kept here so that each writer escapes the same way.
"""

from __future__ import annotations

import html
import re
from typing import Any

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~])")
_CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # C0 (not tab/newline), DEL, C1


def html_text(value: Any) -> str:
    """Text content and attribute values (quotes included) in HTML."""
    return html.escape(str(value), quote=True)


def md_text(value: Any) -> str:
    """Inline Markdown (table cells included): HTML special characters become entities, Markdown
    punctuation is backslash-escaped, line breaks become spaces and terminal control characters
    are dropped (``cat leaderboard.md`` must not replay escape sequences), so the text renders as typed."""
    text = " ".join(_CONTROLS.sub("", str(value)).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def csv_text(value: Any) -> str:
    """A text field for CSV: control characters dropped, and a leading ``= + - @`` gets a quote so
    spreadsheets do not run it as a formula."""
    text = _CONTROLS.sub("", str(value))
    return "'" + text if text.startswith(_CSV_FORMULA_START) else text
