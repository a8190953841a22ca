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


def html_text(value: Any) -> str:
    """Text content and attribute values (quotes included) in HTML."""
    return html.escape(str(value), quote=True)


def md_text(value: Any) -> str:
    """Inline Markdown (table cells included): HTML special characters become entities, Markdown
    punctuation is backslash-escaped and line breaks become spaces, so the text renders as typed."""
    text = " ".join(str(value).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def csv_text(value: Any) -> str:
    """A text field for CSV: a leading ``= + - @`` gets a quote so spreadsheets do not run it as a formula."""
    text = str(value)
    return "'" + text if text.startswith(_CSV_FORMULA_START) else text
