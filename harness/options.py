"""Typed options from ``k=v`` text: the one parser and the one set of coercion rules.

Every ``key=value,...`` string the harness reads (``--model-args``, decoding specs, lm-eval's
``--model_args``, plugins' settings) is split by :func:`split_kv`. Values are then typed by what
receives them, a callable's signature or a dataclass (:func:`options_of`, :func:`bind`):

* ``bool``: ``true`` or ``false`` (any case); anything else (``yes``, ``0``, ``on``) is refused;
* ``int`` / ``float``: a number (an integer for ``int``); booleans are refused;
* ``str``: the text as given (``revision=0123`` stays ``"0123"``);
* ``X | None``: also ``none`` / ``null``; ``Literal[...]``: one of the listed values;
* unannotated (``Any``): :func:`scalar`, the generic rule (numbers, ``true``/``false``,
  ``none``/``null``, else the text).

Errors are :class:`OptionError`, one line naming the argument and what was expected.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Iterable, Literal, Mapping, Union

REQUIRED: Any = inspect.Parameter.empty


class OptionError(ValueError):
    """A ``k=v`` argument is malformed, unknown or of the wrong type; the message names it."""


def split_kv(text: str, what: str) -> list[tuple[str, str]]:
    """``"a=1,b=x"`` -> ``[("a", "1"), ("b", "x")]`` (texts, untyped); a key given twice is an error."""
    pairs: list[tuple[str, str]] = []
    for part in [p for p in (text or "").split(",") if p.strip()]:
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise OptionError(f"{what}: expected key=value pairs separated by commas, got {part.strip()!r}")
        if any(k == key.strip() for k, _ in pairs):
            raise OptionError(f"{what}: {key.strip()} is given twice")
        pairs.append((key.strip(), value.strip()))
    return pairs


def scalar(text: str) -> Any:
    """The generic rule for a value nothing declares a type for: ``'3'`` -> 3, ``'0.5'`` -> 0.5,
    ``'true'`` -> True, ``'none'`` -> None, else the text."""
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


def parse_kv(text: str, what: str) -> dict[str, Any]:
    """``"a=1,b=x"`` -> ``{"a": 1, "b": "x"}`` by the generic rule (for receivers without a signature)."""
    return {k: scalar(v) for k, v in split_kv(text, what)}


# --- coercion by annotation ----------------------------------------------------------------


@dataclass(frozen=True)
class Min:
    """``Annotated[int, Min(1)]``: a lower bound the value must reach."""

    value: float


def _shown(name: str, value: Any, what: str) -> str:
    """``what name=value``: a number as written, a text quoted (so spaces and empty texts show)."""
    number = isinstance(value, str) and type(scalar(value)) in (int, float)
    text = f"{name}={value.strip() if number else repr(value)}"
    return f"{what} {text}" if what else text


def coerce(name: str, value: Any, annotation: Any = Any, what: str = "") -> Any:
    """``value`` (a text or an already-typed value) as ``annotation`` says; :class:`OptionError` if it cannot be."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        base, *meta = typing.get_args(annotation)
        typed = coerce(name, value, base, what)
        for m in meta:
            if isinstance(m, Min) and typed < m.value:
                raise OptionError(f"{_shown(name, typed, what)}: expected {_describe(annotation)}")
        return typed
    if annotation in (Any, object, inspect.Parameter.empty) or annotation is None:
        return scalar(value) if isinstance(value, str) else value
    if origin in (Union, types.UnionType):
        members = typing.get_args(annotation)
        if type(None) in members and (value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null"))):
            return None
        members = tuple(m for m in members if m is not type(None))
        ordered = sorted(members, key=lambda m: m is str)  # the catch-all str last
        for member in ordered:
            try:
                return coerce(name, value, member, what)
            except OptionError:
                continue
        raise OptionError(f"{_shown(name, value, what)}: expected {' or '.join(_describe(m) for m in members)}")
    if origin is Literal:
        allowed = typing.get_args(annotation)
        for choice in allowed:
            if value == choice or (isinstance(value, str) and str(choice) == value.strip()):
                return choice
        raise OptionError(f"{_shown(name, value, what)}: expected one of {', '.join(str(c) for c in allowed)}")
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise OptionError(f"{_shown(name, value, what)}: expected true or false")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise OptionError(f"{_shown(name, value, what)}: expected an integer")
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise OptionError(f"{_shown(name, value, what)}: expected a number")
    if annotation is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value).strip() if isinstance(value, str) else str(value)
        raise OptionError(f"{_shown(name, value, what)}: expected a text")
    if annotation is Path:
        return value if isinstance(value, Path) else Path(str(value))
    if isinstance(annotation, type) and isinstance(value, annotation):
        return value
    return scalar(value) if isinstance(value, str) else value  # containers, classes: as given


def _describe(annotation: Any) -> str:
    if typing.get_origin(annotation) is Annotated:
        base, *meta = typing.get_args(annotation)
        low = next((m.value for m in meta if isinstance(m, Min)), None)
        if base is int and low == 1:
            return "a positive integer"
        return f"{_describe(base)} of at least {low}" if low is not None else _describe(base)
    if typing.get_origin(annotation) is Literal:
        return " or ".join(repr(c) for c in typing.get_args(annotation))
    return {bool: "true or false", int: "an integer", float: "a number", str: "a text"}.get(annotation, getattr(annotation, "__name__", str(annotation)))


# --- options of a callable or a dataclass ----------------------------------------------------


@dataclass(frozen=True)
class Option:
    """One accepted keyword: its type (``Any`` if not annotated) and default."""

    name: str
    annotation: Any = Any
    default: Any = REQUIRED

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass(frozen=True)
class Options:
    """The keywords a receiver accepts. ``open``: it also takes ``**kwargs`` that nothing narrows,
    so other names pass through, typed by :func:`scalar`."""

    fields: dict[str, Option] = field(default_factory=dict)
    open: bool = False

    def __contains__(self, name: object) -> bool:
        return name in self.fields

    def names(self) -> list[str]:
        return sorted(self.fields)


def _resolve(annotation: Any, namespace: Mapping[str, Any]) -> Any:
    if isinstance(annotation, str):  # ``from __future__ import annotations``; unresolvable names count as Any
        try:
            return eval(annotation, dict(namespace))  # noqa: S307 - the receiver's own annotation text
        except Exception:  # noqa: BLE001
            return Any
    return annotation


def _params(source: Any) -> tuple[list[Option], bool]:
    if dataclasses.is_dataclass(source) and isinstance(source, type):
        namespace = vars(inspect.getmodule(source) or object())
        opts = [Option(f.name, _resolve(f.type, namespace),
                       f.default if f.default is not dataclasses.MISSING else
                       f.default_factory() if f.default_factory is not dataclasses.MISSING else REQUIRED)
                for f in dataclasses.fields(source) if f.init]
        return opts, False
    fn = source.__init__ if inspect.isclass(source) else source
    namespace = getattr(inspect.unwrap(fn), "__globals__", {})
    opts, is_open = [], False
    for p in inspect.signature(fn).parameters.values():
        if p.name in ("self", "cls") or p.kind in (p.VAR_POSITIONAL, p.POSITIONAL_ONLY):
            continue
        if p.kind is p.VAR_KEYWORD:
            is_open = True
            continue
        opts.append(Option(p.name, _resolve(p.annotation, namespace), p.default))
    return opts, is_open


def options_of(*sources: Any, skip: Iterable[str] = ()) -> Options:
    """The keyword options of ``sources`` (callables, classes or dataclasses) together; a name in
    several takes the first one's type and default. Open only if every source takes ``**kwargs``."""
    skipped, opens = set(skip), []
    fields: dict[str, Option] = {}
    for source in sources:
        opts, is_open = _params(source)
        opens.append(is_open)
        for opt in opts:
            if opt.name not in skipped:
                fields.setdefault(opt.name, opt)
    return Options(fields, bool(opens) and all(opens))


def suggestion(name: str, accepted: Iterable[str]) -> str:
    """`` (did you mean X?)`` for a near miss, else an empty string."""
    close = difflib.get_close_matches(name, list(accepted), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def unknown_error(name: str, accepted: Iterable[str], what: str, owner: str) -> OptionError:
    accepted = sorted(accepted)
    return OptionError(f"{what} {name}: not an argument of {owner}{suggestion(name, accepted)}; accepted: {', '.join(accepted) or 'none'}")


def bind(options: Options, values: Mapping[str, Any], what: str, owner: str, check_required: bool = True) -> dict[str, Any]:
    """``values`` typed by ``options``; an unknown name (unless open) or a missing required one is an error."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        opt = options.fields.get(name)
        if opt is None:
            if not options.open:
                raise unknown_error(name, options.fields, what, owner)
            out[name] = scalar(value) if isinstance(value, str) else value
            continue
        out[name] = coerce(name, value, opt.annotation, what)
    if check_required:
        missing = [o.name for o in options.fields.values() if o.required and o.name not in out]
        if missing:
            raise OptionError(f"{what}: {owner} needs {', '.join(f'{m}=...' for m in missing)}")
    return out


def as_text(value: Any) -> str:
    """A typed value written back as ``k=v`` text that :func:`coerce` reads as the same value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    return str(value)


__all__ = ["REQUIRED", "Min", "Option", "OptionError", "Options", "as_text", "bind", "coerce", "options_of", "parse_kv", "scalar",
           "split_kv", "suggestion", "unknown_error"]
