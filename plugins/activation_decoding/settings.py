"""Method settings written as decoding specs: ``"activation,alpha=0.5,info_layer=16"``.

The same strings name a multiple-choice scoring rule and a generation decoder, so a setting
chosen on TruthfulQA MC can be passed unchanged to any generation task.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Iterable

METHODS = ("greedy", "dola", "activation", "activation_dola")


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"name,k=v,..."`` -> (name, {k: value}) with ints, floats and booleans converted."""
    parts = [p.strip() for p in str(spec).split(",") if p.strip()]
    if not parts:
        raise ValueError("empty decoding spec")
    name, params = parts[0], {}
    for part in parts[1:]:
        key, eq, raw = part.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"decoding spec {spec!r}: expected key=value, got {part!r}")
        params[key.strip()] = _coerce(raw.strip())
    return name, params


def _coerce(raw: str) -> Any:
    low = raw.lower()
    if low in ("true", "yes"):
        return True
    if low in ("false", "no"):
        return False
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    return raw


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
    relative_top: float = 0.0  # MC scoring: 0 = no relative-top mask (DoLa's MC default)

    @classmethod
    def parse(cls, spec: str) -> MethodSetting:
        name, params = parse_spec(spec)
        if name not in METHODS:
            raise ValueError(f"unknown method {name!r} in {spec!r}; expected one of {METHODS}")
        known = {"alpha", "info_layer", "final_norm", "layers", "premature_norm", "post_softmax", "relative_top"}
        unknown = set(params) - known
        if unknown:
            raise ValueError(f"{spec!r}: unknown parameter(s) {sorted(unknown)}; accepted: {sorted(known)}")
        if "layers" in params:
            params["layers"] = str(params["layers"])
        setting = cls(method=name, **params)
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
