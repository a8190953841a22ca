"""Checking ``--model-args`` for the ``hf`` adapter before any weights are read.

Booleans accept exactly ``true`` and ``false`` (any case): ``trust_remote_code=no`` is an
error, not a truthy string that would run a model folder's code.
"""

from __future__ import annotations

import os
from typing import Any

BOOL_ARGS = ("trust_remote_code", "add_bos_token", "share_prefix", "cached_rerun", "remote")
POSITIVE_INT_ARGS = ("max_batch_size", "max_length")
DTYPES = ("auto", "float32", "fp32", "float16", "fp16", "bfloat16", "bf16")


class ModelArgError(ValueError):
    """A model argument is invalid or names a model that cannot be loaded; the message names the field."""


def parse_bool(name: str, value: Any) -> bool:
    """``True``/``False`` or the strings ``true``/``false``; anything else is refused."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ModelArgError(f"--model-args {name}={value!r}: expected true or false")


def positive_int(name: str, value: Any, allow_auto: bool = False) -> int | str:
    if allow_auto and isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    if isinstance(value, str) and value.strip().lstrip("+").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        extra = " or 'auto'" if allow_auto else ""
        raise ModelArgError(f"--model-args {name}={value!r}: expected a positive integer{extra}")
    return value


def check_hf_args(args: dict[str, Any]) -> dict[str, Any]:
    """Typed copies of the hf adapter's arguments; raises :class:`ModelArgError` on the first bad one."""
    out = dict(args)
    for name in BOOL_ARGS:
        if out.get(name) is not None:
            out[name] = parse_bool(name, out[name])
    for name in POSITIVE_INT_ARGS:
        if out.get(name) is not None:
            out[name] = positive_int(name, out[name])
    for name in ("batch_size", "threads"):
        if out.get(name) is not None:
            out[name] = positive_int(name, out[name], allow_auto=True)
    if "dtype" in out and str(out["dtype"]) not in DTYPES:
        raise ModelArgError(f"--model-args dtype={out['dtype']!r}: expected one of {', '.join(DTYPES)}")
    if "pretrained" in out:
        out["pretrained"] = check_pretrained(out["pretrained"])
    return out


def check_pretrained(value: Any) -> str:
    """A non-empty name; a path-like value must exist."""
    text = "" if value is None else str(value).strip()
    if not text:
        raise ModelArgError("--model-args pretrained= is empty: give a hub id, a local model folder, or smollm2-135m / gemma3-270m")
    expanded = os.path.expanduser(text)
    if text.startswith((".", "/", "~")) and not os.path.exists(expanded):
        raise ModelArgError(f"--model-args pretrained={text!r}: no such file or folder")
    if os.path.isdir(expanded) and not os.path.exists(os.path.join(expanded, "config.json")):
        if not any(f.endswith(".gguf") for f in os.listdir(expanded)):
            raise ModelArgError(f"--model-args pretrained={text!r}: the folder has no config.json (not a transformers model folder)")
    return text


def load_failure(pretrained: str, err: BaseException) -> ModelArgError:
    """One clear line for a model that could not be loaded (instead of chained hub tracebacks)."""
    if isinstance(err, ImportError):
        return ModelArgError(f"loading {pretrained!r} needs a package that is not installed: {_first_line(err)}")
    offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes")
    hint = " (HF_HUB_OFFLINE is set, so hub ids must already be in the local cache)" if offline else ""
    return ModelArgError(f"--model-args pretrained={pretrained!r}: could not load it as a local model folder, an embedded "
                         f"model (smollm2-135m, gemma3-270m) or a hub model{hint}: {_first_line(err)}")


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"
