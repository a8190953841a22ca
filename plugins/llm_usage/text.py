"""Sentences and words, exactly as the estimator sees them.

A document is split into sentences by a small rule-based splitter (no model, no download):
a sentence ends at ``.``, ``!`` or ``?`` (possibly repeated, possibly followed by closing
quotes or brackets) when whitespace and then an upper-case letter, a digit or an opening
quote/bracket follow, unless the word before the full stop is a known abbreviation
("Mr.", "e.g.", "U.S.") or a single capital letter (an initial). Blank lines always end a
sentence. This is a deliberate, documented choice: the paper's pipeline used its own
splitter upstream and shipped only tokenised sentences, so the splitter cannot be matched
exactly; what matters for the estimator is that human and AI text go through the same one.

A sentence is then the *set* of its word types (Liang et al. 2024): lower-cased, words are
the matches of ``\\b\\w+\\b`` (Python's Unicode ``\\w``), pure-digit tokens are dropped, and a
sentence left with at most one word token is dropped.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Iterable, Iterator

WORD_RE = re.compile(r"\b\w+\b")

#: Lower-cased abbreviations (without their final full stop) that do not end a sentence.
ABBREVIATIONS = frozenset(
    """
    mr mrs ms dr prof sr jr st mt gen col maj capt lt sgt adm gov sen rep hon rev messrs
    co corp inc ltd bros dept univ assn no nos vol vols fig figs eq eqs ch sec secs art pp
    ed eds cf e.g i.e etc vs viz al approx ca est jan feb mar apr jun jul aug sep sept oct
    nov dec u.s u.s.a u.k n.y d.c a.m p.m ph.d b.a m.a
    """.split()
)

# A candidate boundary: terminal punctuation, optional closers, whitespace, then a
# sentence-like start. Group 1 is the text up to and including the punctuation+closers.
_BOUNDARY_RE = re.compile(r"""([.!?]+["'”’)\]]*)\s+(?=["'“‘(\[]?[A-Z0-9À-ÖØ-Þ])""")
_LAST_TOKEN_RE = re.compile(r"(\S+)$")


def _is_abbreviation(before: str) -> bool:
    """Whether the text ``before`` a full stop ends with an abbreviation or an initial."""
    match = _LAST_TOKEN_RE.search(before)
    if not match:
        return False
    token = match.group(1).lstrip("\"'“‘([").rstrip(".")
    if len(token) == 1 and token.isalpha() and token.isupper():
        return True  # an initial: "J. Smith"
    return token.lower() in ABBREVIATIONS


def split_sentences(text: str) -> list[str]:
    """Split a document into sentences (see the module docstring for the rules)."""
    sentences: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = " ".join(paragraph.split())
        if not paragraph:
            continue
        start = 0
        for match in _BOUNDARY_RE.finditer(paragraph):
            punct = match.group(1)
            if punct.startswith(".") and punct.rstrip("\"'”’)]") == "." and _is_abbreviation(paragraph[start : match.start(1)]):
                continue
            sentences.append(paragraph[start : match.end(1)])
            start = match.end()
        if start < len(paragraph):
            sentences.append(paragraph[start:])
    return sentences


def sentence_words(sentence: str) -> list[str] | None:
    """The sentence's word tokens (lower-cased, pure-digit tokens dropped), or ``None`` when
    at most one word is left (such sentences are dropped from every corpus)."""
    words = [w for w in WORD_RE.findall(sentence.lower()) if not w.isdecimal()]
    return words if len(words) > 1 else None


#: Why a sentence is dropped (keys of the ``dropped`` counters).
DROP_REASONS = {"no_words": "no word left", "one_word": "only one word left"}


def drop_reason(n_words: int) -> str | None:
    """The :data:`DROP_REASONS` key of a sentence with ``n_words`` kept words, or None if kept."""
    return "no_words" if n_words == 0 else "one_word" if n_words == 1 else None


def document_sentences(text: str, dropped: Counter | None = None) -> Iterator[list[str]]:
    """Word lists of the kept sentences of one document; ``dropped`` counts the others by reason."""
    for sentence in split_sentences(text):
        words = [w for w in WORD_RE.findall(sentence.lower()) if not w.isdecimal()]
        reason = drop_reason(len(words))
        if reason is None:
            yield words
        elif dropped is not None:
            dropped[reason] += 1


def clean_tokens(tokens: Iterable[str]) -> list[str] | None:
    """Apply the word rules to an already tokenised sentence (lower-case, drop pure digits
    and empty tokens); ``None`` when at most one word is left."""
    words = [t.lower() for t in tokens if t and not t.isdecimal()]
    return words if len(words) > 1 else None
