"""Find the parts of a transformers causal LM that white-box methods need, across families."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

_FINAL_NORM_NAMES = ("norm", "ln_f", "final_layer_norm", "final_layernorm", "norm_f")


def base_model(model: nn.Module) -> nn.Module:
    return getattr(model, "base_model", model)


def decoder_blocks(model: nn.Module) -> nn.ModuleList:
    """The ModuleList of decoder blocks (Llama/Gemma ``layers``, GPT-2 ``h``, NeoX ``layers``)."""
    n_layers = getattr(model.config, "num_hidden_layers", None) or getattr(model.config, "n_layer", None)
    base = base_model(model)
    for name in ("layers", "h", "blocks", "decoder_layers"):
        blocks = getattr(base, name, None)
        if isinstance(blocks, nn.ModuleList):
            return blocks
    for module in base.modules():  # fallback: the first ModuleList as long as the model is deep
        if isinstance(module, nn.ModuleList) and len(module) == n_layers:
            return module
    raise TypeError(f"cannot find the decoder blocks of {type(model).__name__}")


def final_norm(model: nn.Module) -> nn.Module | None:
    base = base_model(model)
    for name in _FINAL_NORM_NAMES:
        module = getattr(base, name, None)
        if isinstance(module, nn.Module):
            return module
    return None


def unembed(model: nn.Module, hidden: torch.Tensor, apply_final_norm: bool = True) -> torch.Tensor:
    """Logits from residual-stream states: optional final norm, LM head, soft-capping if any."""
    if apply_final_norm:
        norm = final_norm(model)
        if norm is not None:
            hidden = norm(hidden)
    logits = model.get_output_embeddings()(hidden)
    cap = getattr(model.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits


def block_output(output: Any) -> torch.Tensor:
    """A block's residual output, whether it returns a tensor or a tuple."""
    return output[0] if isinstance(output, tuple) else output


def replace_block_output(output: Any, hidden: torch.Tensor) -> Any:
    return (hidden, *output[1:]) if isinstance(output, tuple) else hidden
