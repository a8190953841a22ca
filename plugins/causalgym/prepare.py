"""Turn pair records into what the engine needs: token ids, per-span positions, label tokens.

Positions follow the paper: for every aligned span from the first span holding a label
variable to the last span, the last token of that span in base and in source. A pair whose
span is empty on either side has no position there (it is left out of that cell). Only the
first token of each label is scored. The control task relabels the two types " dog"/" give".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from harness.interventions.tokens import encode, span_end_positions
from harness_plugins.causalgym.pairs import PairRecord
from harness_plugins.causalgym.templates import BOS_TEXT, TaskTemplate

CONTROL_LABELS = (" dog", " give")


@dataclass
class PreparedPairs:
    """One task's pairs of one split, tokenised. Lists are indexed by pair."""

    task: str
    types: tuple[str, str]
    span_indices: list[int]  # the candidate positions (span indices), in order
    span_names: list[str]  # a readable name for each candidate position
    base_ids: list[list[int]]
    src_ids: list[list[int]]
    base_pos: list[dict[int, int]]  # span index -> token position (absent: empty span)
    src_pos: list[dict[int, int]]
    base_label: list[int]  # first token of each label
    src_label: list[int]
    base_control: list[int]
    src_control: list[int]
    base_class: list[int]  # 0/1 = index of the type in ``types``
    src_class: list[int]
    texts: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.base_ids)

    def usable(self, span: int) -> list[int]:
        """Pairs whose span ``span`` is non-empty on both sides."""
        return [i for i in range(len(self)) if span in self.base_pos[i] and span in self.src_pos[i]]


def first_token(tokenizer: Any, text: str) -> int:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if not ids:
        raise ValueError(f"label {text!r} tokenises to nothing")
    return int(ids[0])


def bos_replacement(tokenizer: Any, bos: str = "auto") -> str:
    """What ``<|endoftext|>`` in the records becomes for this tokenizer.

    ``auto`` keeps it when the tokenizer has it as a special token (Pythia, GPT-2, SmolLM2),
    otherwise uses the tokenizer's BOS token (or nothing). ``keep``/``bos``/``none`` force it.
    """
    if bos == "keep":
        return BOS_TEXT
    if bos == "none":
        return ""
    specials = set(getattr(tokenizer, "all_special_tokens", []) or [])
    added = set(getattr(tokenizer, "get_added_vocab", lambda: {})())
    if bos == "auto" and (BOS_TEXT in specials or BOS_TEXT in added):
        return BOS_TEXT
    if bos in ("auto", "bos"):
        return tokenizer.bos_token or ""
    raise ValueError(f"bos={bos!r} is not one of auto, keep, bos, none")


def label_span_start(pairs: Sequence[PairRecord], template: TaskTemplate | None) -> int:
    """First span holding a label variable: from the template, else the first span that differs."""
    if template is not None:
        n = len(template.pieces)
        if any(len(p.base) != n for p in pairs):
            raise ValueError(f"task {template.name!r}: pair records have a different span count than its template ({n})")
        return template.first_label_span
    first = min((i for p in pairs for i, (a, b) in enumerate(zip(p.base, p.src)) if a != b), default=None)
    if first is None:
        raise ValueError("no pair differs between base and source; cannot locate the label span")
    return first


def span_names(template: TaskTemplate | None, spans: Sequence[int]) -> list[str]:
    names = []
    for i in spans:
        if template is None:
            names.append(f"span{i}")
        else:
            piece = template.pieces[i]
            names.append(piece.var if piece.var is not None else piece.text.strip() or f"span{i}")
    return names


def prepare(pairs: Sequence[PairRecord], tokenizer: Any, template: TaskTemplate | None = None, bos: str = "auto") -> PreparedPairs:
    """Tokenise one task's pairs and locate every candidate position."""
    if not pairs:
        raise ValueError("no pairs to prepare")
    task = pairs[0].task
    types = tuple(template.types) if template is not None else tuple(sorted({p.base_type for p in pairs} | {p.src_type for p in pairs}))
    if len(types) != 2:
        raise ValueError(f"task {task!r}: expected two label types, found {list(types)}")
    start = label_span_start(pairs, template)
    n_spans = len(pairs[0].base)
    spans = list(range(start, n_spans))
    prefix = bos_replacement(tokenizer, bos)

    def spans_of(seq: Sequence[str]) -> list[str]:
        out = list(seq)
        if out[0].startswith(BOS_TEXT):
            out[0] = prefix + out[0][len(BOS_TEXT):]
        return out

    base_spans = [spans_of(p.base) for p in pairs]
    src_spans = [spans_of(p.src) for p in pairs]
    base_ids, base_offs = encode(tokenizer, ["".join(s) for s in base_spans])
    src_ids, src_offs = encode(tokenizer, ["".join(s) for s in src_spans])

    def positions(offsets, spans_list) -> dict[int, int]:
        ends = span_end_positions(offsets, spans_list)
        return {i: ends[i] for i in spans if ends[i] is not None}

    ctrl = {types[0]: first_token(tokenizer, CONTROL_LABELS[0]), types[1]: first_token(tokenizer, CONTROL_LABELS[1])}
    label_cache: dict[str, int] = {}

    def tok(label: str) -> int:
        if label not in label_cache:
            label_cache[label] = first_token(tokenizer, label)
        return label_cache[label]

    for p in pairs:
        if p.base_type not in types or p.src_type not in types:
            raise ValueError(f"task {task!r}: pair types {p.base_type!r}/{p.src_type!r} are not the template's {list(types)}")
    return PreparedPairs(
        task=task, types=types, span_indices=spans, span_names=span_names(template, spans),
        base_ids=base_ids, src_ids=src_ids,
        base_pos=[positions(o, s) for o, s in zip(base_offs, base_spans)],
        src_pos=[positions(o, s) for o, s in zip(src_offs, src_spans)],
        base_label=[tok(p.base_label) for p in pairs], src_label=[tok(p.src_label) for p in pairs],
        base_control=[ctrl[p.base_type] for p in pairs], src_control=[ctrl[p.src_type] for p in pairs],
        base_class=[types.index(p.base_type) for p in pairs], src_class=[types.index(p.src_type) for p in pairs],
        texts=[("".join(b), "".join(s)) for b, s in zip(base_spans, src_spans)],
    )
