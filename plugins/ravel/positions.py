"""Where is the entity? Its last token, found from the tokenizer's character offsets.

RAVEL intervenes on the residual stream at the last token of the entity mention, in both
the base and the source prompt. Nothing is hard-coded: the entity's character span is
known from the template, and a fast tokenizer's ``offset_mapping`` tells which tokens cover
it. A token that merges the entity's last character with following text (``"%ss"`` ->
"apples") still counts: it is the last token overlapping the span.
"""

from __future__ import annotations

from typing import Any, Sequence


class EntityPositionError(ValueError):
    """No token covers the entity's characters (e.g. the tokenizer has no offsets)."""


def last_token_overlapping(offsets: Sequence[tuple[int, int]], start: int, end: int) -> int:
    """Index of the last token whose character span overlaps [start, end).

    Tokens with an empty span (special tokens, offsets (0, 0)) are ignored.
    """
    found = -1
    for i, (s, e) in enumerate(offsets):
        if e > s and s < end and e > start:
            found = i
    if found < 0:
        raise EntityPositionError(f"no token overlaps characters [{start}, {end}) (offsets: {list(offsets)[:12]}...)")
    return found


def entity_last_token_positions(tokenizer: Any, texts: Sequence[str], spans: Sequence[tuple[int, int]], add_special_tokens: bool = True) -> list[tuple[int, int]]:
    """For each text, (index from the start, number of tokens) of the entity's last token.

    ``tokenizer`` must be a fast (Rust) tokenizer so that it can return offsets; the same
    ``add_special_tokens`` setting as the forward pass must be used.
    """
    if not getattr(tokenizer, "is_fast", False):
        raise EntityPositionError(f"{type(tokenizer).__name__} is not a fast tokenizer; RAVEL needs return_offsets_mapping to find entity tokens")
    enc = tokenizer(list(texts), return_offsets_mapping=True, add_special_tokens=add_special_tokens)
    out = []
    for text, (start, end), offsets in zip(texts, spans, enc["offset_mapping"]):
        if not (0 <= start < end <= len(text)):
            raise EntityPositionError(f"entity span [{start}, {end}) is outside the text {text!r}")
        out.append((last_token_overlapping(offsets, start, end), len(offsets)))
    return out
