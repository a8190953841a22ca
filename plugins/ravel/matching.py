"""Does a short greedy continuation give an attribute value? One rule, used everywhere.

Instance building (which (template, entity) pairs the model knows) and the metrics (did the
intervened output become ``inv_label`` / stay ``label``) compare outputs the same way:

* both sides are normalised: Unicode-folded (accents dropped), lower-cased, every run of
  non-alphanumeric characters turned into one space, trimmed;
* the output gives value ``v`` when its normalised text equals ``v``'s, or starts with it
  followed by a word boundary (" Paris, France" gives "Paris"), or -- only when generation
  stopped at the token limit -- when the output is a non-empty word-aligned prefix of ``v``
  (3 tokens may end inside "Europe/Copenhagen").
"""

from __future__ import annotations

import re
import unicodedata
from typing import Iterable

_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def normalise(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text)
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch)).lower()
    return _NON_ALNUM.sub(" ", folded).strip()


def gives_value(output: str, value: str, truncated: bool = True) -> bool:
    """True when ``output`` (a greedy continuation) states ``value`` (see module docstring)."""
    out, gold = normalise(output), normalise(value)
    if not out or not gold:
        return False
    if out == gold or out.startswith(gold + " "):
        return True
    if truncated and gold.startswith(out):
        # A word-aligned prefix only: "united" is a prefix of "united states" but "unit" is not.
        return gold[len(out)] == " " or _last_word_cut(out, gold)
    return False


def _last_word_cut(out: str, gold: str) -> bool:
    """The output ends mid-word of the value, after at least one full character run of 3+.

    Token limits cut words ("europe cop" of "europe copenhagen"); a lone 1-2 letter stub
    ("eu") is too ambiguous to count.
    """
    last = out.rsplit(" ", 1)[-1]
    return len(last) >= 3


def first_match(output: str, values: Iterable[str], truncated: bool = True) -> str | None:
    """The first of ``values`` that ``output`` gives, or None."""
    for v in values:
        if gives_value(output, v, truncated):
            return v
    return None


def same_value(a: str, b: str) -> bool:
    """Two gold values name the same thing (used for the label != inv_label filter)."""
    return normalise(a) == normalise(b)
