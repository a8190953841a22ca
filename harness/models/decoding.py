"""Decoding strategies by name: ``"activation,alpha=0.5,info_layer=16"`` -> a NextTokenRule."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.models.decoding_spec import DecodingSpec

if TYPE_CHECKING:  # pragma: no cover
    from harness.models.base import ModelAdapter, NextTokenRule
    from harness.registry import DecoderSpec

_DECODERS: dict[str, DecoderSpec] | None = None


def set_decoders(decoders: dict[str, DecoderSpec]) -> None:
    """Use these registrations (the runner passes its plugin registry)."""
    global _DECODERS
    _DECODERS = dict(decoders)


def available_decoders() -> dict[str, DecoderSpec]:
    global _DECODERS
    if _DECODERS is None:
        from harness.pluginmanager import PluginManager

        _DECODERS = dict(PluginManager().load().registry().decoders)
    return _DECODERS


def make_rule(adapter: ModelAdapter, spec: str | DecodingSpec) -> NextTokenRule | None:
    """The rule for ``spec`` (parsed once; a text is parsed on first use); ``None`` for plain decoding."""
    parsed = DecodingSpec.parse(spec)
    if parsed.plain:
        return None
    decoders = available_decoders()
    if parsed.name not in decoders:
        raise ValueError(f"unknown decoding strategy {parsed.name!r}; registered: {', '.join(sorted(decoders)) or 'none'}")
    factory = decoders[parsed.name].load()
    return factory(adapter, **parsed.bind(factory).kwargs)
