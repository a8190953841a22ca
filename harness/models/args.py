"""``--model-args`` typed by the adapter's own signature, checked before any weights are read.

An adapter's accepted arguments are the keyword parameters of its factory (and of what the
factory names as ``factory.harness_options``, e.g. ``HFAdapter.from_pretrained`` and
``HFAdapter.__init__``), typed by their annotations (:mod:`harness.options`): no hand-kept list.
With ``decoding=NAME`` the keys that are parameters of that decoder go into its spec; any other
unknown key is an error listing the accepted ones.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated, Any, Callable, Literal, Mapping

from harness.options import Min, Options, OptionError, bind, coerce, options_of, suggestion

if TYPE_CHECKING:  # pragma: no cover
    from harness.registry import DecoderSpec

WHAT = "--model-args"
DType = Literal["auto", "float32", "fp32", "float16", "fp16", "bfloat16", "bf16"]
PositiveInt = Annotated[int, Min(1)]
BatchSize = PositiveInt | Literal["auto"]


class ModelArgError(OptionError):
    """A model argument is invalid or names a model that cannot be loaded; the message names the field."""


def parse_bool(name: str, value: Any) -> bool:
    """``True``/``False`` or the strings ``true``/``false``; anything else is refused."""
    try:
        return coerce(name, value, bool, WHAT)
    except OptionError as err:
        raise ModelArgError(str(err)) from None


def positive_int(name: str, value: Any, allow_auto: bool = False) -> int | str:
    try:
        return coerce(name, value, BatchSize if allow_auto else PositiveInt, WHAT)
    except OptionError as err:
        raise ModelArgError(str(err)) from None


def model_options(factory: Callable[..., Any]) -> Options:
    """What ``factory`` accepts: ``factory.harness_options()`` where it declares them, else its signature."""
    declared = getattr(factory, "harness_options", None)
    return declared() if callable(declared) else options_of(factory)


def bind_model_args(adapter: str, factory: Callable[..., Any], args: Mapping[str, Any],
                    decoders: Mapping[str, DecoderSpec] | None = None) -> dict[str, Any]:
    """``args`` typed for ``factory``; ``decoding`` becomes a typed
    :class:`~harness.models.decoding_spec.DecodingSpec` (checked against ``decoders``)."""
    from harness.models.decoding_spec import DecodingSpec, decoder_options

    opts, owner, rest = model_options(factory), f"adapter {adapter!r}", dict(args)
    spec = None
    if rest.get("decoding") not in (None, ""):
        if "decoding" not in opts and not opts.open:
            raise ModelArgError(f"{WHAT}: unknown model argument(s) ['decoding'] for {owner}; accepted: {', '.join(opts.names())}")
        spec = DecodingSpec.parse(rest.pop("decoding"), f"{WHAT} decoding")
    decoder, dec_opts = None, None
    if spec is not None and not spec.plain and decoders is not None:
        if spec.name not in decoders:
            raise ModelArgError(f"{WHAT} decoding={spec.name}: unknown decoding strategy{suggestion(spec.name, decoders)}; "
                                f"registered: {', '.join(sorted(decoders)) or 'none'} (and greedy)")
        try:
            decoder = decoders[spec.name].load()
        except Exception as err:  # noqa: BLE001 - a decoder that cannot be imported is a bad choice, not a crash
            raise ModelArgError(f"{WHAT} decoding={spec.name}: its implementation cannot be imported: {type(err).__name__}: {err}") from None
        dec_opts = decoder_options(decoder)
    moved, unknown = {}, []
    for name in [n for n in rest if n not in opts]:
        if dec_opts is not None and (name in dec_opts or dec_opts.open):
            moved[name] = rest.pop(name)  # a parameter of the decoder: decoding=activation,alpha=0.5
        elif not opts.open:
            unknown.append(name)
    if unknown:
        accepted = sorted(set(opts.fields) | set(dec_opts.fields if dec_opts else ()))
        of = owner + (f" or decoding {spec.name!r}" if spec is not None and dec_opts else "")
        hints = "".join(suggestion(n, accepted) for n in unknown)
        raise ModelArgError(f"{WHAT}: unknown model argument(s) {unknown} for {of}{hints}; accepted: {', '.join(accepted)}")
    try:
        typed = bind(opts, rest, WHAT, owner, check_required=False)
        if spec is not None:
            spec = spec.with_params(moved)
            typed["decoding"] = spec.bind(decoder, f"{WHAT} decoding={spec.name}") if decoder is not None else spec
    except OptionError as err:
        raise _own(err) from None
    return typed


def _own(err: OptionError) -> ModelArgError:
    return err if isinstance(err, ModelArgError) else ModelArgError(str(err))


def check_pretrained(value: Any) -> str:
    """A non-empty name; a path-like value must exist."""
    text = "" if value is None else str(value).strip()
    if not text:
        raise ModelArgError(f"{WHAT} pretrained= is empty: give a hub id, a local model folder, or smollm2-135m / gemma3-270m")
    expanded = os.path.expanduser(text)
    if text.startswith((".", "/", "~")) and not os.path.exists(expanded):
        raise ModelArgError(f"{WHAT} pretrained={text!r}: no such file or folder")
    if os.path.isdir(expanded) and not os.path.exists(os.path.join(expanded, "config.json")):
        if not any(f.endswith(".gguf") for f in os.listdir(expanded)):
            raise ModelArgError(f"{WHAT} pretrained={text!r}: the folder has no config.json (not a transformers model folder)")
    return text


def load_failure(pretrained: str, err: BaseException) -> ModelArgError:
    """One clear line for a model that could not be loaded (instead of chained hub tracebacks)."""
    if isinstance(err, ImportError):
        return ModelArgError(f"loading {pretrained!r} needs a package that is not installed: {_first_line(err)}")
    offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes")
    hint = " (HF_HUB_OFFLINE is set, so hub ids must already be in the local cache)" if offline else ""
    return ModelArgError(f"{WHAT} pretrained={pretrained!r}: could not load it as a local model folder, an embedded "
                         f"model (smollm2-135m, gemma3-270m) or a hub model{hint}: {_first_line(err)}")


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"
