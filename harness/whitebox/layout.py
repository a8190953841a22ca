"""Where the parts white-box methods need sit in a transformers causal LM, found once per model.

Site numbering (the harness convention): residual site ``0`` is the input of block 0 (the
embedding output), residual site ``l`` (1..L) the output of block ``l``, before the final norm.
``("mlp_in", l)`` and ``("mlp_out", l)`` are the input and output of block ``l``'s MLP, and
``("mlp_key", l)`` the input of its output projection (after the non-linearity: the "key" that
ROME/MEMIT-style editors map to a new value).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union

import torch
from torch import nn

if TYPE_CHECKING:  # pragma: no cover
    from transformers import PreTrainedModel

#: A residual site (int) or an MLP site (("mlp_in" | "mlp_out", block number 1..L)).
Site = Union[int, tuple]

_FINAL_NORM_NAMES = ("norm", "ln_f", "final_layer_norm", "final_layernorm", "norm_f")
_BLOCK_LIST_NAMES = ("layers", "h", "blocks", "decoder_layers")
_MLP_NAMES = ("mlp", "feed_forward", "ffn")
_DOWN_NAMES = ("down_proj", "c_proj", "dense_4h_to_h", "fc_out", "fc2", "w2")
#: A norm applied to the MLP output before the residual sum (Gemma 2/3, OLMo 2).
_POST_MLP_NORM_NAMES = ("post_feedforward_layernorm", "post_mlp_layernorm")
MLP_KINDS = ("mlp_in", "mlp_out", "mlp_key")


def mlp_in(layer: int) -> tuple[str, int]:
    return ("mlp_in", int(layer))


def mlp_out(layer: int) -> tuple[str, int]:
    return ("mlp_out", int(layer))


def _base(model: nn.Module) -> nn.Module:
    return getattr(model, "base_model", model)


@dataclass
class Layout:
    """The model's decoder blocks, the module that owns them, its final norm and LM head."""

    model: PreTrainedModel
    base: nn.Module
    blocks: nn.ModuleList
    blocks_attr: str  # attribute of ``base`` holding ``blocks`` (swapped to skip blocks, never methods)
    norm: nn.Module | None
    head: nn.Module
    softcap: float | None

    @classmethod
    def of(cls, model: PreTrainedModel) -> Layout:
        base = _base(model)
        blocks, attr = None, ""
        for name in _BLOCK_LIST_NAMES:
            candidate = getattr(base, name, None)
            if isinstance(candidate, nn.ModuleList):
                blocks, attr = candidate, name
                break
        if blocks is None:
            raise TypeError(f"cannot find the decoder blocks of {type(model).__name__} (looked for {', '.join(_BLOCK_LIST_NAMES)})")
        norm = next((m for m in (getattr(base, n, None) for n in _FINAL_NORM_NAMES) if isinstance(m, nn.Module)), None)
        head = model.get_output_embeddings()
        if head is None:
            raise TypeError(f"{type(model).__name__} has no LM head (get_output_embeddings)")
        return cls(model, base, blocks, attr, norm, head, getattr(model.config, "final_logit_softcapping", None))

    @property
    def num_layers(self) -> int:
        return len(self.blocks)

    def mlp(self, layer: int) -> nn.Module:
        """Block ``layer``'s (1-based) MLP module."""
        block = self.blocks[layer - 1]
        for name in _MLP_NAMES:
            module = getattr(block, name, None)
            if isinstance(module, nn.Module):
                return module
        raise TypeError(f"block {layer} of {type(self.model).__name__} has no MLP module (looked for {', '.join(_MLP_NAMES)})")

    def mlp_down(self, layer: int) -> nn.Module:
        """Block ``layer``'s MLP output projection (Llama/Gemma ``down_proj``, GPT-2 ``c_proj``,
        NeoX ``dense_4h_to_h``)."""
        mlp = self.mlp(layer)
        for name in _DOWN_NAMES:
            module = getattr(mlp, name, None)
            if isinstance(module, nn.Module) and getattr(module, "weight", None) is not None:
                return module
        raise TypeError(f"the MLP of block {layer} of {type(self.model).__name__} has no output projection (looked for {', '.join(_DOWN_NAMES)})")

    def mlp_projection(self, layer: int) -> tuple[torch.Tensor, str]:
        """Block ``layer``'s MLP output projection weight and its orientation: ``"out_in"`` for
        (d_model, d_ff) (``nn.Linear``) or ``"in_out"`` for (d_ff, d_model) (GPT-2's ``Conv1D``)."""
        module = self.mlp_down(int(layer))
        weight = module.weight
        if not isinstance(weight, torch.Tensor):
            raise TypeError(f"the MLP output projection of block {layer} has a {type(weight).__name__} as its weight, not a tensor")
        return weight, ("in_out" if type(module).__name__ == "Conv1D" else "out_in")

    def mlp_output_norm(self, layer: int) -> nn.Module | None:
        """The norm block ``layer`` applies to its MLP output before adding it to the residual
        stream (Gemma 2/3's ``post_feedforward_layernorm``), or None where it is added as it is."""
        block = self.blocks[int(layer) - 1]
        return next((m for m in (getattr(block, n, None) for n in _POST_MLP_NORM_NAMES) if isinstance(m, nn.Module)), None)

    def check_site(self, site: Site) -> None:
        n = self.num_layers
        if isinstance(site, tuple):
            if len(site) != 2 or site[0] not in MLP_KINDS or not 1 <= int(site[1]) <= n:
                raise IndexError(f"site {site!r} is not ({'|'.join(MLP_KINDS)}, 1..{n})")
            return
        if not 0 <= int(site) <= n:
            raise IndexError(f"site {site} is outside 0..{n} (0 = embeddings, {n} = last block)")

    def unembed(self, hidden: torch.Tensor, final_norm: bool = True) -> torch.Tensor:
        """Logits from residual states: optional final norm, LM head, soft-capping if any."""
        if final_norm and self.norm is not None:
            hidden = self.norm(hidden)
        return self.head_logits(hidden)

    def head_logits(self, final_states: torch.Tensor) -> torch.Tensor:
        logits = self.head(final_states)
        if self.softcap:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        return logits


def block_output(output: Any) -> torch.Tensor:
    """A block's residual output, whether it returns a tensor or a tuple."""
    return output[0] if isinstance(output, tuple) else output


def replace_output(output: Any, hidden: torch.Tensor) -> Any:
    return (hidden, *output[1:]) if isinstance(output, tuple) else hidden
