"""Decoding specs parsed once: ``"activation,alpha=0.5,info_layer=16"`` -> :class:`DecodingSpec`.

A spec names a registered decoder and its parameters. It is parsed when a run starts (from
``--model-args decoding=...``) or when a benchmark builds its requests, and typed against the
decoder's own signature (:meth:`DecodingSpec.bind`), so a generation batch never re-reads text.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Callable

from harness.options import Options, OptionError, as_text, bind, options_of, split_kv

#: Names meaning "no decoding rule": the adapter's own greedy decoding or sampling.
PLAIN = ("greedy", "default", "sample")


@dataclass(frozen=True)
class DecodingSpec:
    """A decoder name and its parameters (in the order given). ``typed``: checked against the decoder."""

    name: str
    params: tuple[tuple[str, Any], ...] = ()
    typed: bool = False
    defaults: tuple[tuple[str, Any], ...] = field(default=(), compare=False)  # the decoder's, once typed

    @classmethod
    def parse(cls, text: str | DecodingSpec, what: str = "decoding") -> DecodingSpec:
        """``"name,k=v,..."``; the values stay texts until :meth:`bind` types them by the decoder's signature."""
        if isinstance(text, DecodingSpec):
            return text
        return _parse(str(text), what)

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.params)

    @property
    def effective(self) -> dict[str, Any]:
        """Every parameter the decoder runs with: the given ones over its defaults."""
        return {**dict(self.defaults), **self.kwargs}

    @property
    def plain(self) -> bool:
        return self.name in PLAIN

    def with_params(self, extra: dict[str, Any]) -> DecodingSpec:
        return DecodingSpec(self.name, tuple({**self.kwargs, **extra}.items()))

    def bind(self, factory: Callable[..., Any], what: str = "decoding") -> DecodingSpec:
        """Typed by ``factory``'s signature (after its adapter argument); unknown or missing
        parameters are errors naming the decoder and what it accepts."""
        if self.typed or self.plain:
            return self
        options = decoder_options(factory)
        typed = bind(options, self.kwargs, what, f"decoding {self.name!r}")
        defaults = tuple((o.name, o.default) for o in options.fields.values() if not o.required)
        return DecodingSpec(self.name, tuple(typed.items()), typed=True, defaults=defaults)

    def __str__(self) -> str:
        return ",".join([self.name, *(f"{k}={as_text(v)}" for k, v in self.params)])


@functools.lru_cache(maxsize=256)
def _parse(text: str, what: str) -> DecodingSpec:
    name, _, rest = text.strip().partition(",")
    if not name.strip():
        raise OptionError(f"{what} {text!r}: expected 'name,key=value,...' (a decoder name first)")
    if "=" in name:
        raise OptionError(f"{what} {text!r}: expected a decoder name before the parameters, got {name.strip()!r}")
    return DecodingSpec(name.strip(), tuple(split_kv(rest, f"{what} {name.strip()}")))


def decoder_options(factory: Callable[..., Any]) -> Options:
    """The parameters of a decoder factory ``factory(adapter, **params)``: its keyword parameters
    after the first, or the fields of the dataclass it names as ``factory.params``."""
    declared = getattr(factory, "params", None)
    if declared is not None:
        return options_of(declared)
    opts = options_of(factory)
    first = next(iter(opts.fields), None)
    return Options({k: v for k, v in opts.fields.items() if k != first}, opts.open)
