"""Decoding strategies by name: ``"activation,alpha=0.5,info_layer=16"`` -> a NextTokenRule.

The strategies come from the registry passed in (no module state): plugins register them with
``harness_register_decoders`` and the runner gives them to the adapter it loads."""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

from harness.models.decoding_spec import DecodingSpec

if TYPE_CHECKING:  # pragma: no cover
    from harness.models.base import ModelAdapter, NextTokenRule
    from harness.registry import DecoderSpec


def make_rule(adapter: ModelAdapter, spec: str | DecodingSpec, decoders: Mapping[str, DecoderSpec]) -> NextTokenRule | None:
    """The rule for ``spec`` (parsed once; a text is parsed on first use) from ``decoders`` (the
    run's registered decoding strategies, which the runner hands to the adapter:
    ``adapter.decoders``); ``None`` for plain decoding (``greedy``/``sample``)."""
    parsed = DecodingSpec.parse(spec)
    if parsed.plain:
        return None
    if parsed.name not in decoders:
        raise ValueError(f"unknown decoding strategy {parsed.name!r}; registered: {', '.join(sorted(decoders)) or 'none'}")
    factory = decoders[parsed.name].load()
    return factory(adapter, **parsed.bind(factory).kwargs)
