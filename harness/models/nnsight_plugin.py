"""The built-in ``nnsight`` model adapter (optional extra: ``pip install "interp-harness[nnsight]"``),
registered through the plugin entry points like any other; nnsight is imported only when used."""

from __future__ import annotations

from typing import Any

from harness.hookspecs import hookimpl
from harness.models.args import BatchSize, DType
from harness.registry import ModelSpec

__version__ = "0.1.0"
HARNESS_API_VERSION = "2.0"


@hookimpl
def harness_register_models() -> list[ModelSpec]:
    return [ModelSpec(
        name="nnsight",
        implementation="harness.models.nnsight_plugin:make_nnsight_adapter",
        description="nnsight TransformersModel (local, or remote=true on NDIF): pretrained=<hub id | path | smollm2-135m | gemma3-270m>, dtype=, device=, batch_size=",
    )]


def make_nnsight_adapter(pretrained: str = "smollm2-135m", *, revision: str | None = None, device: str = "auto", dtype: DType = "auto",
                         device_map: str | None = None, trust_remote_code: bool = False, remote: bool = False, backend: Any = None,
                         threads: BatchSize | None = None, **adapter_args: Any) -> Any:
    """Build an :class:`~harness.models.nnsight_adapter.NNsightAdapter` from ``--model-args``: the
    loading arguments here, the adapter's own (``batch_size``, ``decoding``, ...) from its
    signature. ``remote`` and ``backend`` are passed to every trace (NDIF: ``remote=true``);
    ``threads`` (N or ``auto``) sets the process's CPU threads (:mod:`harness.threads`)."""
    if threads is not None:
        from harness import threads as cpu_threads

        cpu_threads.configure(threads)
    try:
        from nnsight.modeling.transformers import TransformersModel
    except ImportError:
        raise ValueError('the nnsight adapter needs the nnsight package: pip install "interp-harness[nnsight]" (or pip install nnsight)') from None

    from harness.models.args import check_pretrained, parse_bool
    from harness.models.embedded import EMBEDDED, converted_path
    from harness.models.hf import pick_device, pick_dtype
    from harness.models.nnsight_adapter import CAPABILITIES, NNsightAdapter
    from harness.whitebox.capabilities import Capability

    pretrained = check_pretrained(pretrained)
    path = str(converted_path(pretrained)) if pretrained in EMBEDDED else pretrained
    remote = parse_bool("remote", remote)
    trace: dict[str, Any] = {"remote": True} if remote else {}
    if backend is not None:
        trace["backend"] = backend
    load: dict[str, Any] = {"trust_remote_code": parse_bool("trust_remote_code", trust_remote_code)}
    if not remote:
        dev = pick_device(device)
        load["dtype"] = pick_dtype(dtype, dev)
        load["device_map"] = device_map or str(dev)
        load["dispatch"] = True
    if revision:
        load["revision"] = revision
    lm = TransformersModel(path, task="text-generation", **load)
    adapter_args.setdefault("name", pretrained.rstrip("/").split("/")[-1])
    adapter = NNsightAdapter(lm, trace_kwargs=trace, source=f"nnsight:{pretrained}", **adapter_args)
    if remote:  # weights live on the server: no local weight edits
        adapter.capabilities = CAPABILITIES - {Capability.WEIGHT_EDITS}
    return adapter


def nnsight_options() -> Any:
    """The nnsight adapter's arguments: the loading ones above and :class:`NNsightAdapter`'s own."""
    from harness.models.nnsight_adapter import NNsightAdapter
    from harness.options import options_of

    return options_of(make_nnsight_adapter, NNsightAdapter.__init__, skip=("lm", "tokenizer", "trace_kwargs", "source"))


make_nnsight_adapter.harness_options = nnsight_options  # type: ignore[attr-defined]
