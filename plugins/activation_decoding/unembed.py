"""What this plugin needs from a transformers adapter beyond its public forward: W_U applied to
one vocabulary chunk at a time, and residual states of a run that continues a KV cache.

Sites follow the harness convention (site l = output of block l, before the final norm), read
with the core's own residual hooks so they match ``adapter.forward`` exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch

from harness.models.hooks import residual_hooks
from harness.models.layers import final_norm


@dataclass
class Unembedder:
    """W_U (and its bias) with the optional final norm. No logit soft-capping: z = W_U h."""

    weight: torch.Tensor  # (V, d)
    bias: torch.Tensor | None
    norm: torch.nn.Module | None
    tied: bool = False

    @classmethod
    def from_model(cls, model: Any) -> Unembedder:
        head = model.get_output_embeddings()
        if head is None or not hasattr(head, "weight"):
            raise AttributeError(f"{type(model).__name__} has no LM head (get_output_embeddings)")
        emb = model.get_input_embeddings()
        tied = emb is not None and getattr(emb, "weight", None) is not None and emb.weight.data_ptr() == head.weight.data_ptr()
        return cls(head.weight, getattr(head, "bias", None), final_norm(model), tied)

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


@dataclass
class StatesOutput:
    logits: torch.Tensor  # (B, T, V), or (B, 1, V) when only the last position was asked for
    states: dict[int, torch.Tensor]  # site -> (B, T, d), pre-final-norm
    cache: Any


@torch.no_grad()
def run_with_states(
    adapter: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    sites: Sequence[int],
    past_key_values: Any = None,
    past_length: int = 0,
    last_logits_only: bool = False,
) -> StatesOutput:
    """One forward over right-padded ``input_ids`` that follow ``past_length`` cached tokens."""
    width = input_ids.shape[1]
    positions = past_length + torch.arange(width, device=input_ids.device)[None, :].expand(input_ids.shape[0], -1)
    kwargs = dict(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions,
                  past_key_values=past_key_values, use_cache=True)
    with residual_hooks(adapter.blocks, sites) as states:
        if last_logits_only:
            try:
                out = adapter.model(**kwargs, logits_to_keep=1)
            except TypeError:  # a model without logits_to_keep
                out = adapter.model(**kwargs)
        else:
            out = adapter.model(**kwargs)
    return StatesOutput(out.logits, dict(states), out.past_key_values)
