"""The built-in ``hf`` model adapter, registered through the plugin entry points like any other."""

from __future__ import annotations

from typing import Any

from harness.hookspecs import hookimpl
from harness.registry import ModelSpec

__version__ = "0.1.0"
HARNESS_API_VERSION = "1.0"

HF_ARGS = {"pretrained", "gguf_file", "revision", "device", "dtype", "device_map", "trust_remote_code",
           "batch_size", "max_batch_size", "add_bos_token", "max_length", "decoding", "name", "share_prefix", "cached_rerun",
           "threads"}


@hookimpl
def harness_register_models() -> list[ModelSpec]:
    return [ModelSpec(
        name="hf",
        implementation="harness.models.plugin:make_hf_adapter",
        description=("transformers causal LM: pretrained=<hub id | path | smollm2-135m | gemma3-270m>, gguf_file=, dtype=, device=, "
                     "batch_size=, threads=N|auto, trust_remote_code=true|false, add_bos_token=true|false"),
    )]


def make_hf_adapter(**args: Any) -> Any:
    """Build an HFAdapter from ``--model-args``. ``decoding=NAME`` takes the remaining keys as its
    parameters (``decoding=activation,alpha=0.5,info_layer=16``). Arguments are checked
    (:mod:`harness.models.args`) before any weights are read."""
    from harness.models.args import ModelArgError, check_hf_args, load_failure
    from harness.models.embedded import EMBEDDED, EmbeddedModelMissing, load_embedded
    from harness.models.hf import HFAdapter

    unknown = {k: v for k, v in args.items() if k not in HF_ARGS}
    if unknown and not args.get("decoding"):
        raise ValueError(f"unknown model argument(s) {sorted(unknown)} for model 'hf' (accepted: {', '.join(sorted(HF_ARGS))})")
    known = check_hf_args({k: v for k, v in args.items() if k in HF_ARGS})
    if unknown:
        known["decoding"] = ",".join([str(known["decoding"])] + [f"{k}={v}" for k, v in unknown.items()])
    pretrained = str(known.pop("pretrained", "smollm2-135m"))
    try:
        if pretrained in EMBEDDED:
            return load_embedded(pretrained, **known)
        return HFAdapter.from_pretrained(pretrained, **known)
    except EmbeddedModelMissing as err:
        raise ModelArgError(str(err)) from None
    except (OSError, ImportError) as err:
        raise load_failure(pretrained, err) from None
