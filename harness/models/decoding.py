"""Decoding strategies by name: ``"activation,alpha=0.5,info_layer=16"`` -> a NextTokenRule.

The strategies come from the registry passed in (no module state): plugins register them with
``harness_register_decoders`` and the runner gives them to the adapter it loads."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:  # pragma: no cover
    from harness.models.base import ModelAdapter, NextTokenRule
    from harness.registry import DecoderSpec


def parse_value(text: str) -> Any:
    """'3' -> 3, '0.5' -> 0.5, 'true' -> True, 'none' -> None, else the string."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text.strip()


def parse_decoding(spec: str) -> tuple[str, dict[str, Any]]:
    """Split ``"name,k=v,..."`` into the strategy name and its parameters."""
    name, *rest = [p.strip() for p in spec.split(",") if p.strip()]
    params = {}
    for part in rest:
        key, sep, value = part.partition("=")
        if not sep or not key:
            raise ValueError(f"decoding {spec!r}: expected 'name,key=value,...', got {part!r}")
        params[key.strip()] = parse_value(value)
    return name, params


def make_rule(adapter: ModelAdapter, spec: str, decoders: Mapping[str, DecoderSpec]) -> NextTokenRule | None:
    """The rule for ``spec`` from ``decoders`` (the run's registered decoding strategies, which
    the runner hands to the adapter: ``adapter.decoders``); ``None`` for plain decoding
    (``greedy``/``sample``)."""
    name, params = parse_decoding(spec)
    if name in ("greedy", "default", "sample"):
        return None
    if name not in decoders:
        raise ValueError(f"unknown decoding strategy {name!r}; registered: {', '.join(sorted(decoders)) or 'none'}")
    return decoders[name].load()(adapter, **params)
