"""Token batches and span-to-token positions for interchange interventions.

Texts are tokenised once, as whole strings with character offsets, so the ids the engine runs
are exactly the ids a user's tokenizer gives; positions of interest (the last token of a
span of text, e.g. an entity or a template slot) are found from the offsets, never hard-coded.
Batches are right-padded: position ``i`` of an example is its own ``i``-th token, whatever the
other examples' lengths.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch


@dataclass
class TokenBatch:
    """Right-padded token ids (B, T) and each example's length."""

    input_ids: torch.Tensor
    lengths: list[int]

    @classmethod
    def from_ids(cls, seqs: Sequence[Sequence[int]], pad_id: int = 0) -> TokenBatch:
        if not seqs or any(len(s) == 0 for s in seqs):
            raise ValueError("TokenBatch needs at least one example and no empty sequence")
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.as_tensor(list(s), dtype=torch.long)
        return cls(ids, [len(s) for s in seqs])

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def attention_mask(self) -> torch.Tensor:
        steps = torch.arange(self.input_ids.shape[1])
        return (steps[None, :] < torch.tensor(self.lengths)[:, None]).long()

    @property
    def last_positions(self) -> torch.Tensor:
        return torch.tensor(self.lengths) - 1

    def resolve(self, positions: Sequence[int] | torch.Tensor) -> torch.Tensor:
        """Absolute positions (B,) from per-example positions; negatives count from each end."""
        pos = torch.as_tensor(positions, dtype=torch.long).reshape(-1).clone()
        if pos.numel() != len(self):
            raise ValueError(f"need one position per example ({len(self)}), got {pos.numel()}")
        lengths = torch.tensor(self.lengths)
        pos = torch.where(pos < 0, pos + lengths, pos)
        if bool(((pos < 0) | (pos >= lengths)).any()):
            bad = int(torch.nonzero((pos < 0) | (pos >= lengths))[0])
            raise IndexError(f"position {positions[bad]} is outside example {bad} of length {self.lengths[bad]}")
        return pos

    def select(self, rows: Sequence[int] | torch.Tensor) -> TokenBatch:
        rows = torch.as_tensor(rows, dtype=torch.long)
        lengths = [self.lengths[int(r)] for r in rows]
        return TokenBatch(self.input_ids[rows, : max(lengths)], lengths)


def encode(tokenizer: Any, texts: Sequence[str], add_special_tokens: bool = False) -> tuple[list[list[int]], list[list[tuple[int, int]]]]:
    """Token ids and character offsets of each text (a fast tokenizer is required for offsets)."""
    enc = tokenizer(list(texts), add_special_tokens=add_special_tokens, return_offsets_mapping=True)
    offsets = [[tuple(o) for o in offs] for offs in enc["offset_mapping"]]
    return [list(ids) for ids in enc["input_ids"]], offsets


def last_token_at(offsets: Sequence[tuple[int, int]], char_end: int) -> int:
    """Index of the last token that starts before character ``char_end`` (i.e. ends a span there)."""
    best = -1
    for i, (start, end) in enumerate(offsets):
        if end > start and start < char_end:
            best = i
    if best < 0:
        raise ValueError(f"no token starts before character {char_end}")
    return best


def span_end_positions(offsets: Sequence[tuple[int, int]], spans: Sequence[str]) -> list[int | None]:
    """For consecutive text ``spans`` (joined = the text), the token ending each span; None if empty."""
    out: list[int | None] = []
    cursor = 0
    for span in spans:
        cursor += len(span)
        out.append(last_token_at(offsets, cursor) if span else None)
    return out


def find_span_end(text: str, offsets: Sequence[tuple[int, int]], needle: str, occurrence: int = 0) -> int:
    """Token position of the last token of the ``occurrence``-th match of ``needle`` in ``text``."""
    start = -1
    for _ in range(occurrence + 1):
        start = text.find(needle, start + 1)
        if start < 0:
            raise ValueError(f"{needle!r} does not occur {occurrence + 1} time(s) in {text!r}")
    return last_token_at(offsets, start + len(needle))
