"""Does a greedy continuation give an attribute value? Two rules, reported side by side.

``paper`` -- the official RAVEL ``compute_metrics`` rule, kept for reproduction: the value's
first 3 tokens (the model's own tokens for it, as the official model-specific data stores
labels) are compared with the first 3 generated
tokens as an exact sequence; label positions past the value's end are padding and count as
matches. Its known weaknesses: with a digit-per-token tokenizer "194" matches every year
1940-1949 (and then counts as both "changed to the source's value" and "kept the base's");
a value longer than 3 tokens is judged on its stub; a finished short word matches a long one.

``strict`` -- the headline rule: the *whole* value must be generated, within a token budget
sized to the value's own tokenisation (its tokens + 1, so the next token shows whether the
word ended), and followed by a word boundary (a non-alphanumeric character, or the end of
generation). Both sides are normalised Unicode-aware (NFKD, combining marks dropped,
case-folded, every run of non-alphanumeric characters -- by Unicode's definition, so IPA
letters are kept -- turned into one space). Leading words of the value that the prompt already
ends with are not expected again ("to think" after "... wants to" is "think"). An example
whose base and source values this rule cannot tell apart is dropped (:func:`distinct`).
"""

from __future__ import annotations

import unicodedata
from typing import Iterable, Sequence

RULES = ("strict", "paper")
PAPER_TOKENS = 3


def normalise(text: str) -> str:
    """Unicode-aware: accents folded, case-folded, non-alphanumeric runs -> one space."""
    folded = unicodedata.normalize("NFKD", text)
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch)).casefold()
    out, space = [], False
    for ch in folded:
        if ch.isalnum():
            if space and out:
                out.append(" ")
            out.append(ch)
            space = False
        else:
            space = True
    return unicodedata.normalize("NFC", "".join(out))


def producible(value: str, prompt: str = "") -> str:
    """The part of ``value`` a continuation of ``prompt`` can give: leading words that the
    prompt already ends with are dropped ("to think" after "... wants to" -> "think")."""
    vwords, pwords = value.split(), normalise(prompt).split()
    for k in range(len(vwords) - 1, 0, -1):
        if [normalise(w) for w in vwords[:k]] == pwords[-k:]:
            return " ".join(vwords[k:])
    return value


def strict_budget(n_value_tokens: int) -> int:
    """Tokens to generate for a value of ``n_value_tokens`` tokens: one more shows the boundary."""
    return max(1, n_value_tokens) + 1


def strict_match(output: str, value: str, ended: bool) -> bool:
    """``output`` (cut to the value's budget) states the whole ``value`` and then a word boundary.

    ``ended``: generation stopped (end-of-sequence) within the budget, which is a boundary.
    """
    out, gold = normalise(output), normalise(value)
    if not out or not gold:
        return False
    if out.startswith(gold + " "):
        return True
    if out == gold:  # the value is all there is: did the word end?
        return ended or not output[-1:].isalnum()
    return False


def paper_match(generated: Sequence[int], value_tokens: Sequence[int], k: int = PAPER_TOKENS) -> bool:
    """The official rule: the first ``k`` value tokens equal the first ``k`` generated ones;
    positions past the value's end are padding and match anything."""
    label = list(value_tokens)[:k]
    pred = list(generated)[:k]
    return bool(label) and all(j < len(pred) and pred[j] == t for j, t in enumerate(label))


def distinct(rule: str, a: str, b: str, a_tokens: Sequence[int] = (), b_tokens: Sequence[int] = ()) -> bool:
    """Can ``rule`` tell values ``a`` and ``b`` apart (could one output match only one of them)?

    ``paper`` keeps the official filter (the label strings differ), so its stub collisions stay
    in; ``strict`` drops pairs where one value is the other followed by more words.
    """
    if rule == "paper":
        return a != b
    na, nb = normalise(a), normalise(b)
    return bool(na) and bool(nb) and na != nb and not na.startswith(nb + " ") and not nb.startswith(na + " ")


def contains_value(output: str, value: str) -> bool:
    """The normalised output starts with the whole normalised value (no boundary needed):
    used to find the tokens that spell a value (training targets)."""
    out, gold = normalise(output), normalise(value)
    return bool(gold) and out.startswith(gold)


def same_value(a: str, b: str) -> bool:
    """Two gold values name the same thing."""
    return normalise(a) == normalise(b)


def first_strict(outputs: Iterable[tuple[str, bool]], values: Sequence[str]) -> str | None:
    """The first of ``values`` whose (output cut to its budget, ended) pair matches strictly.

    ``outputs`` gives one (text, ended) per value, in the same order.
    """
    for v, (text, ended) in zip(values, outputs):
        if strict_match(text, v, ended):
            return v
    return None
