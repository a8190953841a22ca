"""Generation-time decoding rules (``decoding=activation,alpha=..,info_layer=..``).

Every step scores the next token v as

    activation       s(v) = log p(v) - alpha * E(v)
    dola             s(v) = log p_final(v) - log p_premature(v)   (JSD-chosen premature layer)
    activation_dola  s(v) = DoLa score - alpha * E(v)

restricted to the relative-top set of the final distribution (log p(v) >= max log p +
log(relative_top); other tokens get -inf), with an optional repetition penalty. E is computed
once from the prompt's info-layer states (the paper); ``recompute=true`` also adds every
generated token's state to the context, updating E incrementally.

Deviation: the rule cannot see token ids (the NextTokenRule protocol passes logits and states
only), so ``repetition_penalty`` applies to tokens this rule itself chose (its argmax) and
requires greedy decoding; transformers also penalises the prompt's tokens.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F

from harness_plugins.activation_decoding.contrast import candidate_layers, dola_scores, relative_top_mask
from harness_plugins.activation_decoding.entropy import DEFAULT_VOCAB_CHUNK, EntropyStats, context_entropy_stats
from harness_plugins.activation_decoding.settings import DEFAULT_RELATIVE_TOP, resolve_layer


class EntropyContrastRule:
    """One rule for the three methods; ``alpha``/``info_layer`` and ``dola_layers`` switch parts on."""

    needs_states = True

    def __init__(
        self,
        adapter: Any,
        *,
        alpha: float = 0.0,
        info_layer: int | None = None,
        dola_layers: str | None = None,
        relative_top: float = DEFAULT_RELATIVE_TOP["generation"],
        final_norm: bool = False,
        premature_norm: bool = True,
        recompute: bool = False,
        repetition_penalty: float = 1.0,
        chunk_size: int = DEFAULT_VOCAB_CHUNK,
    ):
        from harness.whitebox.capabilities import Capability, missing

        lacking = missing({Capability.SITE_READ}, getattr(adapter, "capabilities", ()))
        if lacking:
            raise TypeError(f"{type(adapter).__name__} offers no {', '.join(lacking)}; activation decoding needs hidden states and the LM head")
        n_layers = adapter.num_layers
        self.adapter = adapter
        self.alpha = float(alpha)
        self.unembed = adapter.unembedder()
        self.info_layer = resolve_layer(int(info_layer), n_layers) if info_layer is not None else None
        self.dola_layers = candidate_layers(str(dola_layers), n_layers, self.unembed.tied) if dola_layers is not None else None
        if not 0.0 <= float(relative_top) <= 1.0:
            raise ValueError(f"relative_top must be in [0, 1], got {relative_top}")
        if float(repetition_penalty) <= 0:
            raise ValueError(f"repetition_penalty must be > 0, got {repetition_penalty}")
        self.relative_top = float(relative_top)
        self.final_norm = bool(final_norm)
        self.premature_norm = bool(premature_norm)
        self.recompute = bool(recompute)
        self.repetition_penalty = float(repetition_penalty)
        self.chunk_size = int(chunk_size)
        sites = set(self.dola_layers or ())
        if self.info_layer is not None:
            sites.add(self.info_layer)
        self.sites = tuple(sorted(sites))
        self.stats: EntropyStats | None = None
        self._entropy: torch.Tensor | None = None
        self._chosen: torch.Tensor | None = None  # (B, V) bool: tokens this rule picked so far

    # -- NextTokenRule ----------------------------------------------------------------------
    def start(self, adapter: Any, prompt: Any) -> None:
        self._chosen = None
        if self.info_layer is None:
            return
        h = self.unembed.normed(prompt.states[self.info_layer], self.final_norm)
        self.stats = context_entropy_stats(h, prompt.lengths, self.unembed.logits, self.unembed.vocab_size, self.chunk_size)
        self._entropy = self.stats.entropy()

    @torch.no_grad()
    def scores(self, logits: torch.Tensor, states: dict[int, torch.Tensor], step: int) -> torch.Tensor:
        logits = logits.float()
        logp = F.log_softmax(logits, dim=-1)
        if self.dola_layers is not None:
            prem = torch.stack([self.adapter.unembed(states[c][:, -1], final_norm=self.premature_norm).float() for c in self.dola_layers])
            score, _ = dola_scores(logits, prem)
        else:
            score = logp
        if self.info_layer is not None:
            score = score - self.alpha * self._current_entropy(states, step)[..., : score.shape[-1]]
        if self.repetition_penalty != 1.0 and self._chosen is not None:
            penalised = torch.where(score > 0, score / self.repetition_penalty, score * self.repetition_penalty)
            score = torch.where(self._chosen, penalised, score)
        if self.relative_top > 0.0:
            score = score.masked_fill(~relative_top_mask(logp, self.relative_top), float("-inf"))
        self._remember(score)
        return score

    # -- helpers ----------------------------------------------------------------------------
    def _current_entropy(self, states: dict[int, torch.Tensor], step: int) -> torch.Tensor:
        if self.recompute and step > 0:  # step 0's state is the prompt's last token, already counted
            assert self.stats is not None
            h = self.unembed.normed(states[self.info_layer][:, -1], self.final_norm)
            self.stats.update(self.unembed.logits(h))
            self._entropy = self.stats.entropy()
        assert self._entropy is not None, "start() was not called"
        return self._entropy

    def _remember(self, score: torch.Tensor) -> None:
        if self.repetition_penalty == 1.0:
            return
        if self._chosen is None:
            self._chosen = torch.zeros_like(score, dtype=torch.bool)
        self._chosen[torch.arange(score.shape[0]), score.argmax(-1)] = True


# --- the decoders' typed parameters (one dataclass per decoder; the harness types specs by them)


@dataclass(frozen=True, kw_only=True)
class DolaParams:
    """``dola[,layers=low|high|0+2+4,relative_top=0.1,repetition_penalty=1.2]``."""

    layers: str = "low"
    premature_norm: bool = True
    relative_top: float = DEFAULT_RELATIVE_TOP["generation"]
    repetition_penalty: float = 1.0
    chunk_size: int = DEFAULT_VOCAB_CHUNK


@dataclass(frozen=True, kw_only=True)
class ActivationParams:
    """``activation,alpha=A,info_layer=L[,relative_top=0.1,final_norm=false,recompute=false]``."""

    alpha: float
    info_layer: int
    final_norm: bool = False
    recompute: bool = False
    relative_top: float = DEFAULT_RELATIVE_TOP["generation"]
    repetition_penalty: float = 1.0
    chunk_size: int = DEFAULT_VOCAB_CHUNK


@dataclass(frozen=True, kw_only=True)
class ActivationDolaParams(ActivationParams):
    """``activation_dola,alpha=A,info_layer=L[,layers=low|high,...]``: DoLa score - alpha * E."""

    layers: str = "low"
    premature_norm: bool = True


def _typed(method: str, cls: type, params: dict[str, Any]) -> Any:
    """``params`` as ``cls`` (texts typed by its fields); unknown or missing names are errors."""
    from harness.options import bind, options_of

    options = options_of(cls)
    unknown = set(params) - set(options.fields)
    if unknown:
        raise ValueError(f"decoding {method!r}: unknown parameter(s) {sorted(unknown)}; accepted: {options.names()}")
    missing = {o.name for o in options.fields.values() if o.required} - set(params)
    if missing:
        raise ValueError(f"decoding {method!r}: missing parameter(s) {sorted(missing)} (e.g. {method},alpha=0.5,info_layer=16)")
    return cls(**bind(options, params, f"decoding {method}:", f"decoding {method!r}"))


def _rule(adapter: Any, method: str, p: Any) -> EntropyContrastRule:
    kw = asdict(p)
    layers = kw.pop("layers", None)
    return EntropyContrastRule(adapter, dola_layers=layers, **kw)


def activation(adapter: Any, **params: Any) -> EntropyContrastRule:
    """``activation,alpha=A,info_layer=L[,relative_top=0.1,final_norm=false,recompute=false]``."""
    return _rule(adapter, "activation", _typed("activation", ActivationParams, params))


def dola(adapter: Any, **params: Any) -> EntropyContrastRule:
    """``dola[,layers=low|high|0+2+4,relative_top=0.1,repetition_penalty=1.2]``."""
    return _rule(adapter, "dola", _typed("dola", DolaParams, params))


def activation_dola(adapter: Any, **params: Any) -> EntropyContrastRule:
    """``activation_dola,alpha=A,info_layer=L[,layers=low|high,...]``: DoLa score - alpha * E."""
    return _rule(adapter, "activation_dola", _typed("activation_dola", ActivationDolaParams, params))


activation.params = ActivationParams  # type: ignore[attr-defined]  # what the harness types a spec by
dola.params = DolaParams  # type: ignore[attr-defined]
activation_dola.params = ActivationDolaParams  # type: ignore[attr-defined]
