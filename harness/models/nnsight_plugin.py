"""The built-in ``nnsight`` model adapter (optional extra: ``pip install "interp-harness[nnsight]"``),
registered through the plugin entry points like any other; nnsight is imported only when used."""

from __future__ import annotations

from typing import Any

from harness.hookspecs import hookimpl
from harness.registry import ModelSpec

__version__ = "0.1.0"
HARNESS_API_VERSION = "1.0"

ADAPTER_ARGS = {"batch_size", "max_batch_size", "add_bos_token", "max_length", "decoding", "name"}
LOAD_ARGS = {"pretrained", "revision", "device", "dtype", "device_map", "trust_remote_code",
             "threads"}  # threads: applied by the runner (harness.threads), process-wide
#: Passed to every trace and generation (NDIF: ``remote=true``; others as nnsight documents them).
TRACE_ARGS = {"remote", "backend"}


@hookimpl
def harness_register_models() -> list[ModelSpec]:
    return [ModelSpec(
        name="nnsight",
        implementation="harness.models.nnsight_plugin:make_nnsight_adapter",
        description="nnsight TransformersModel (local, or remote=true on NDIF): pretrained=<hub id | path | smollm2-135m | gemma3-270m>, dtype=, device=, batch_size=",
    )]


def make_nnsight_adapter(**args: Any) -> Any:
    """Build an :class:`~harness.models.nnsight_adapter.NNsightAdapter` from ``--model-args``."""
    try:
        from nnsight.modeling.transformers import TransformersModel
    except ImportError:
        raise ValueError('the nnsight adapter needs the nnsight package: pip install "interp-harness[nnsight]" (or pip install nnsight)') from None
    import torch

    from harness.models.embedded import EMBEDDED, converted_path
    from harness.models.hf import pick_device, pick_dtype
    from harness.models.nnsight_adapter import CAPABILITIES, NNsightAdapter
    from harness.whitebox.capabilities import Capability

    from harness.models.args import check_hf_args

    unknown = sorted(set(args) - ADAPTER_ARGS - LOAD_ARGS - TRACE_ARGS)
    if unknown:
        accepted = ", ".join(sorted(ADAPTER_ARGS | LOAD_ARGS | TRACE_ARGS))
        raise ValueError(f"unknown model argument(s) {unknown} for model 'nnsight' (accepted: {accepted})")
    args = check_hf_args(args)  # the same spellings as hf: booleans are exactly true/false
    pretrained = str(args.get("pretrained", "smollm2-135m"))
    path = str(converted_path(pretrained)) if pretrained in EMBEDDED else pretrained
    trace = {k: args[k] for k in TRACE_ARGS if k in args}
    remote = bool(trace.get("remote", False))
    load: dict[str, Any] = {}
    if not remote:
        device = pick_device(str(args.get("device", "auto")))
        load["dtype"] = pick_dtype(str(args.get("dtype", "auto")), device)
        load["device_map"] = args.get("device_map") or str(device)
        load["dispatch"] = True
    for key in ("revision", "trust_remote_code"):
        if key in args:
            load[key] = args[key]
    lm = TransformersModel(path, task="text-generation", **load)
    kwargs = {k: args[k] for k in ADAPTER_ARGS if k in args}
    kwargs.setdefault("name", pretrained.rstrip("/").split("/")[-1])
    adapter = NNsightAdapter(lm, trace_kwargs=trace, source=f"nnsight:{pretrained}", **kwargs)
    if remote:  # weights live on the server: no local weight edits
        adapter.capabilities = CAPABILITIES - {Capability.WEIGHT_EDITS}
    del torch
    return adapter
