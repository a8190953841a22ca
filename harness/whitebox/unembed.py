"""W_U (and its bias) with the model's final norm, for decoding rules that unembed residual
states one vocabulary chunk at a time (activation decoding, DoLa). No logit soft-capping."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from harness.whitebox.layout import Layout


@dataclass
class Unembedder:
    weight: torch.Tensor  # (V, d)
    bias: torch.Tensor | None
    norm: torch.nn.Module | None
    tied: bool = False  # W_U is the input embedding matrix

    @classmethod
    def from_layout(cls, layout: Layout) -> Unembedder:
        head = layout.head
        weight = getattr(head, "weight", None)
        if not isinstance(weight, torch.Tensor):
            raise AttributeError(f"the LM head of {type(layout.model).__name__} has no weight")
        emb_weight = getattr(layout.model.get_input_embeddings(), "weight", None)
        tied = isinstance(emb_weight, torch.Tensor) and emb_weight.data_ptr() == weight.data_ptr()
        return cls(weight, getattr(head, "bias", None), layout.norm, tied)

    @property
    def vocab_size(self) -> int:
        return int(self.weight.shape[0])

    def normed(self, h: torch.Tensor, final_norm: bool) -> torch.Tensor:
        if not final_norm:
            return h
        if self.norm is None:
            raise ValueError("final_norm=True but the model has no final norm")
        return self.norm(h)

    def logits(self, h: torch.Tensor, cols: slice | torch.Tensor | None = None) -> torch.Tensor:
        """W_U[cols] h (+ bias) for states (..., d) -> (..., |cols|) in float32."""
        w = self.weight if cols is None else self.weight[cols]
        z = h.to(w.dtype) @ w.T
        if self.bias is not None:
            z = z + (self.bias if cols is None else self.bias[cols])
        return z.float()
