"""Edit requests as token rows: prefix + cloze + target, with the subject's last token located.

An edit ``(prompt, subject, target_new)`` becomes one row per context prefix ("" and a few
short model-generated texts, as ROME averages keys over random prefixes), plus, for the
value optimisation, one "essence" row ``"{subject} is a"`` whose next-token distribution is
kept close to the unedited one (ROME's KL term).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch

#: Seeds of ROME-style context prefixes; each is continued greedily by the model itself.
PREFIX_SEEDS = ("The", "Therefore", "Because", "I", "You", "However", "It", "When", "In", "She")
ESSENCE = "{} is a"


@dataclass
class Rows:
    """Right-padded rows for a batch of edits, and where each edit's tokens sit."""

    ids: torch.Tensor  # (N, T)
    mask: torch.Tensor  # (N, T)
    lengths: list[int]
    subject_pos: torch.Tensor  # (N,) absolute index of the subject's last token
    target_pos: list[list[int]]  # per row: indices of target tokens (predicted from index - 1)
    target_ids: list[list[int]]
    owner: torch.Tensor  # (N,) which edit each row belongs to
    essence: torch.Tensor  # (N,) bool: an essence (KL) row, no target


def _subject_last(offsets: Sequence[tuple[int, int]], start: int, end: int) -> int:
    hits = [i for i, (s, e) in enumerate(offsets) if s < end and e > start]
    if not hits:
        raise ValueError(f"no token covers the subject span [{start}, {end})")
    return hits[-1]


def build_rows(adapter: Any, edits: Sequence[Any], prefixes: Sequence[str], *, target: str = "target_new",
               essence: bool = False) -> Rows:
    """Rows for ``edits`` (objects with ``prompt``, ``subject`` and ``target``): one per prefix,
    plus an essence row per edit when ``essence``."""
    texts, spans, contexts, owner, is_essence = [], [], [], [], []
    for i, edit in enumerate(edits):
        at = edit.prompt.index("{}")
        cloze = edit.prompt.replace("{}", edit.subject, 1)
        for prefix in prefixes:
            context = prefix + cloze
            texts.append(f"{context} {getattr(edit, target)}")
            spans.append((len(prefix) + at, len(prefix) + at + len(edit.subject)))
            contexts.append(len(context))
            owner.append(i)
            is_essence.append(False)
        if essence:
            texts.append(ESSENCE.format(edit.subject))
            spans.append((0, len(edit.subject)))
            contexts.append(None)
            owner.append(i)
            is_essence.append(True)
    seqs, offsets = adapter.encode_with_offsets(texts)
    subject_pos, target_pos, target_ids = [], [], []
    for seq, offs, (s, e), ctx in zip(seqs, offsets, spans, contexts):
        subject_pos.append(_subject_last(offs, s, e))
        tpos = [] if ctx is None else [j for j, (a, _) in enumerate(offs) if a >= ctx and j > 0]
        if ctx is not None and not tpos:
            raise ValueError("an edit's target encodes to no tokens")
        target_pos.append(tpos)
        target_ids.append([seq[j] for j in tpos])
    lengths = [len(s) for s in seqs]
    ids = torch.full((len(seqs), max(lengths)), adapter.pad_token_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for r, seq in enumerate(seqs):
        ids[r, : len(seq)] = torch.tensor(seq)
        mask[r, : len(seq)] = 1
    dev = adapter.device
    return Rows(ids.to(dev), mask.to(dev), lengths, torch.tensor(subject_pos), target_pos, target_ids,
                torch.tensor(owner), torch.tensor(is_essence))


def context_prefixes(adapter: Any, n: int, length: int = 10) -> list[str]:
    """``""`` and ``n`` short texts the model writes itself from fixed seed words (sampled,
    top-p 0.9, seeded per prefix, as ROME samples its prefixes), each ending in ". " so the
    edit prompt starts a new sentence."""
    from harness.models.base import GenerationRequest

    seeds = PREFIX_SEEDS[: max(0, n)]
    outs = adapter.generate([GenerationRequest(prompt=s, max_new_tokens=length, stop=("\n",), do_sample=True, top_p=0.9, seed=i)
                            for i, s in enumerate(seeds)]) if seeds else []
    prefixes = [""]
    for seed, out in zip(seeds, outs):
        text = " ".join(f"{seed}{out.text}".replace("{", "").replace("}", "").split())
        prefixes.append(text.rstrip(".") + ". ")
    return prefixes


class SampledPrefixes:
    """Mixin for editors that average keys over model-written prefixes (ROME, MEMIT): the
    prefixes are sampled once per model fingerprint. Needs ``n_prefixes`` and ``prefix_len``."""

    n_prefixes: int
    prefix_len: int

    def prefixes(self, adapter: Any) -> list[str]:
        cache = self.__dict__.setdefault("_prefixes", {})
        fp = adapter.fingerprint()
        if fp not in cache:
            cache[fp] = context_prefixes(adapter, self.n_prefixes, self.prefix_len)
        return cache[fp]


def mean_by_owner(values: torch.Tensor, owner: torch.Tensor, n: int) -> torch.Tensor:
    """(N, d) rows averaged per owner -> (n, d)."""
    out = torch.zeros(n, values.shape[-1], dtype=values.dtype, device=values.device)
    out.index_add_(0, owner.to(values.device), values)
    counts = torch.bincount(owner, minlength=n).to(values.device).clamp(min=1)
    return out / counts[:, None].to(values.dtype)


def target_logprob(logits: torch.Tensor, rows: Rows, row_index: Sequence[int]) -> torch.Tensor:
    """Mean log-probability of each row's target tokens (teacher forcing), (len(row_index),)."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    out = []
    for r in row_index:
        pos = torch.tensor(rows.target_pos[r], device=logits.device)
        tok = torch.tensor(rows.target_ids[r], device=logits.device)
        out.append(logp[r, pos - 1, tok].mean())
    return torch.stack(out)
