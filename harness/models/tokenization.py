"""Tokenisation shared by every adapter over a transformers tokenizer: one BOS rule, ids with
character offsets, lm-eval's context/continuation split, right-padded batches."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import torch


def left_padded(prompts: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded ids and mask (on the CPU) for generation prompts."""
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, p in enumerate(prompts):
        ids[i, width - len(p):] = torch.tensor(list(p))
        mask[i, width - len(p):] = 1
    return ids, mask


class Tokenization:
    """Mixin: needs ``self.tokenizer``, ``self.add_bos_token`` and ``self.device``."""

    tokenizer: Any
    add_bos_token: bool

    if TYPE_CHECKING:  # each adapter defines it (a property); declared here for the type checker only

        @property
        def device(self) -> torch.device: ...

    @property
    def prefix_token_id(self) -> int:
        """The token an empty context starts from (BOS, else EOS), as in lm-eval."""
        tok = self.tokenizer
        return tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id

    @property
    def pad_token_id(self) -> int:
        return int(self.tokenizer.pad_token_id)

    def tok_encode(self, text: str) -> list[int]:
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        if self.add_bos_token and self.tokenizer.bos_token_id is not None:
            ids = [self.tokenizer.bos_token_id] + ids
        return ids

    def encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        """Context and continuation ids tokenised together, as lm-eval scores them."""
        from harness.models.scoring import encode_pair

        return encode_pair(self, context, continuation)

    def encode_with_offsets(self, texts: Sequence[str], bos: bool | None = None) -> tuple[list[list[int]], list[list[tuple[int, int]]]]:
        """Token ids of each text and each token's character span, tokenised as :meth:`tok_encode`
        (``bos=None``: a BOS exactly when the adapter adds one; its span is (0, 0))."""
        tok = self.tokenizer
        if not getattr(tok, "is_fast", False):
            raise TypeError(f"{type(tok).__name__} is not a fast tokenizer; character offsets need one")
        enc = tok(list(texts), add_special_tokens=False, return_offsets_mapping=True)
        add = self.add_bos_token if bos is None else bos
        head = [tok.bos_token_id] if add and tok.bos_token_id is not None else []
        ids = [head + list(seq) for seq in enc["input_ids"]]
        offsets = [[(0, 0)] * len(head) + [tuple(o) for o in offs] for offs in enc["offset_mapping"]]
        return ids, offsets

    def encode_batch(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        """Right-padded ids and mask on the model's device, and each text's length."""
        seqs = [self.tok_encode(t) for t in texts]
        for text, seq in zip(texts, seqs):
            if not seq:
                raise ValueError(f"text {text!r} encodes to no tokens")
        lengths = [len(s) for s in seqs]
        width = max(lengths)
        ids = torch.full((len(seqs), width), self.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s)
            mask[i, : len(s)] = 1
        return ids.to(self.device), mask.to(self.device), lengths

