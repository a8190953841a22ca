"""Method settings written as decoding specs: ``"activation,alpha=0.5,info_layer=16"``.

The same strings name a multiple-choice scoring rule and a generation decoder, so a setting
chosen on TruthfulQA MC can be passed unchanged to any generation task. Specs are parsed by the
harness's one ``k=v`` parser (:class:`harness.models.decoding_spec.DecodingSpec`) and typed by
the dataclass of their mode: :class:`MethodSetting` when scoring, the decoders' parameter
classes (:mod:`.decoders`) when generating.

**relative_top, the one rule** (:data:`DEFAULT_RELATIVE_TOP`): unless a spec sets it, scoring
uses 0 (no relative-top mask) and generation 0.1. Both follow DoLa (Chuang et al., ICLR 2024),
whose code the Activation Decoding repository builds on: its adaptive plausibility constraint
keeps tokens with p >= 0.1 * max p when generating (the paper's alpha = 0.1, the default
``--relative_top 0.1`` of its generation scripts), while its multiple-choice scorer
(``tfqa_mc_eval.py``) defaults to ``--relative_top 0.0``. An explicit ``relative_top=`` is used
as given in both modes.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Iterable

from harness.models.decoding_spec import DecodingSpec
from harness.options import bind, options_of

METHODS = ("greedy", "dola", "activation", "activation_dola")
#: relative_top when a spec does not set it, per mode (see the module docstring for why).
DEFAULT_RELATIVE_TOP = {"scoring": 0.0, "generation": 0.1}


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"name,k=v,..."`` -> (name, {k: text}); the receiver's dataclass types the values."""
    if not str(spec).strip():
        raise ValueError("empty decoding spec")
    parsed = DecodingSpec.parse(str(spec), "decoding spec")
    return parsed.name, parsed.kwargs


@dataclass(frozen=True)
class MethodSetting:
    """One way of scoring an answer token (see the formulas on the plugin's docs page, docs/plugins/activation_decoding.md)."""

    method: str = "greedy"
    alpha: float = 0.0
    info_layer: int | None = None  # site; negative counts from the end (-1 = last layer)
    final_norm: bool = False  # apply the final norm to info-layer states before W_U
    layers: str = "low"  # DoLa premature candidates: low | high | "0+2+4"
    premature_norm: bool = True  # DoLa: final norm on premature layers (transformers' DoLa omits it)
    post_softmax: bool = True  # DoLa's MC code renormalises the contrast
    relative_top: float = DEFAULT_RELATIVE_TOP["scoring"]

    @classmethod
    def parse(cls, spec: str) -> MethodSetting:
        """A scoring setting, typed by this class's fields (``layers=2+4`` stays text, ``alpha=1`` a float)."""
        name, params = parse_spec(spec)
        if name not in METHODS:
            raise ValueError(f"unknown method {name!r} in {spec!r}; expected one of {METHODS}")
        options = options_of(cls, skip=("method",))
        unknown = set(params) - set(options.fields)
        if unknown:
            raise ValueError(f"{spec!r}: unknown parameter(s) {sorted(unknown)}; accepted: {options.names()}")
        setting = cls(method=name, **bind(options, params, f"{spec!r}:", "a scoring setting"))
        if setting.uses_entropy and setting.info_layer is None:
            raise ValueError(f"{spec!r}: method {name!r} needs info_layer=<site>")
        if not 0.0 <= setting.relative_top <= 1.0:
            raise ValueError(f"{spec!r}: relative_top must be in [0, 1]")
        return setting

    @property
    def uses_entropy(self) -> bool:
        return self.method in ("activation", "activation_dola")

    @property
    def uses_dola(self) -> bool:
        return self.method in ("dola", "activation_dola")

    @property
    def label(self) -> str:
        parts = [self.method]
        if self.uses_dola:
            parts.append(f"layers={self.layers}")
            if not self.premature_norm:
                parts.append("premature_norm=false")
        if self.uses_entropy:
            parts += [f"alpha={self.alpha:g}", f"info_layer={self.info_layer}"]
            if self.final_norm:
                parts.append("final_norm=true")
        return ",".join(parts)


def expand_sweep(sweep: dict[str, Any]) -> list[str]:
    """Grid of specs: greedy, DoLa per bucket, activation per (alpha, info_layer, final_norm), and
    activation+DoLa per (alpha, info_layer, final_norm, bucket)."""
    known = {"alpha", "info_layer", "dola_layers", "final_norm"}
    unknown = set(sweep) - known
    if unknown:
        raise ValueError(f"sweep: unknown key(s) {sorted(unknown)}; accepted: {sorted(known)}")
    alphas = _as_list(sweep.get("alpha", []))
    infos = _as_list(sweep.get("info_layer", []))
    buckets = [str(b) for b in _as_list(sweep.get("dola_layers", []))]
    norms = [f",final_norm={str(bool(n)).lower()}" for n in _as_list(sweep.get("final_norm", [False]))]
    specs = ["greedy"]
    specs += [f"dola,layers={b}" for b in buckets]
    specs += [f"activation,alpha={a},info_layer={i}{n}" for a, i, n in itertools.product(alphas, infos, norms)]
    specs += [f"activation_dola,alpha={a},info_layer={i},layers={b}{n}" for a, i, n, b in itertools.product(alphas, infos, norms, buckets)]
    return specs


def _as_list(x: Any) -> list[Any]:
    if x is None:
        return []
    return list(x) if isinstance(x, (list, tuple)) else [x]


def resolve_layer(site: int, n_layers: int) -> int:
    """A site in 0..L; negative values count from the end (-1 = L, the last layer)."""
    resolved = n_layers + 1 + site if site < 0 else site
    if not 0 <= resolved <= n_layers:
        raise ValueError(f"info_layer {site} is outside 0..{n_layers} for a {n_layers}-layer model")
    return resolved


def unique(specs: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(specs))
