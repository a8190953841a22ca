"""The effective configuration of a run, as the results file records it.

Not the arguments as typed (``model.args`` keeps those) but what was actually used: the
adapter's device, dtype, batch size as resolved, padding, prefix sharing, decoding; the harness's
and every plugin's version; the git commit of the checkout the harness runs from (null when it
is not run from one). Its digest identifies the configuration across runs.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from harness.results import git_hash, json_safe, stable_hash

#: Adapter attributes recorded when present (an adapter may report more with ``effective_config()``).
ADAPTER_FIELDS = ("name", "source", "add_bos_token", "max_length", "share_prefix", "prompt_lookup", "packed_attention", "trace_kwargs")


def adapter_config(adapter: Any) -> dict[str, Any] | None:
    """What ``adapter`` uses now: its own ``effective_config()`` if it has one, else what its
    attributes say (device, dtype, batch size, padding sides, decoding, capabilities)."""
    if adapter is None:
        return None
    own = getattr(adapter, "effective_config", None)
    if callable(own):
        return json_safe(own())
    out: dict[str, Any] = {"class": f"{type(adapter).__module__}.{type(adapter).__qualname__}"}
    inner = getattr(adapter, "inner", None)  # a request cache wraps the real adapter
    if inner is not None and hasattr(adapter, "db"):
        out["request_cache"] = True
        out["class"] = f"{type(inner).__module__}.{type(inner).__qualname__}"
    for key in ("device", "dtype"):
        try:
            value = getattr(adapter, key)
        except Exception:  # noqa: BLE001 - an adapter without local weights has neither
            continue
        out[key] = str(value).removeprefix("torch.")
    for key in ADAPTER_FIELDS:
        if hasattr(adapter, key):
            out[key] = getattr(adapter, key)
    decoding = getattr(adapter, "decoding", None)
    out["decoding"] = str(decoding) if decoding else None
    if decoding is not None and getattr(decoding, "typed", False):
        out["decoding_params"] = decoding.effective  # with the decoder's defaults filled in
    sizer = getattr(adapter, "sizer", None)
    if sizer is not None:
        out["batch_size"] = {"requested": getattr(sizer, "requested", None), "resolved": getattr(sizer, "_size", None),
                             "out_of_memory_cap": getattr(sizer, "_cap", None), "max_batch_size": getattr(sizer, "max_batch_size", None)}
    if hasattr(adapter, "tokenizer") and hasattr(adapter, "tok_encode"):
        out["padding_side"] = {"scoring": "right", "generation": "left"}  # the harness pads itself (tokenization.py)
    caps = getattr(adapter, "capabilities", None)
    if caps is not None:
        out["capabilities"] = sorted(str(getattr(c, "value", c)) for c in caps)
    return json_safe(out)


def versions(pm: Any) -> dict[str, Any]:
    """The harness's version and each loaded plugin's (``null`` where a plugin states none)."""
    try:
        harness = metadata.version("interp-harness")
    except metadata.PackageNotFoundError:
        harness = None
    plugins = {i.name: (i.version or None) for i in sorted(pm.infos.values(), key=lambda i: i.name) if i.status == "ok"} if pm else {}
    return {"harness": harness, "plugins": plugins}


def effective_config(adapter: Any, run: dict[str, Any], pm: Any) -> dict[str, Any]:
    """The whole effective configuration; ``digest`` hashes everything else in it."""
    doc = {"model": adapter_config(adapter), "run": json_safe(run), "versions": versions(pm), "git_hash": git_hash()}
    doc["digest"] = stable_hash(doc, 64)
    return doc
