"""The built-in ``hf`` model adapter, registered through the plugin entry points like any other."""

from __future__ import annotations

from typing import Any

from harness.hookspecs import hookimpl
from harness.registry import ModelSpec

__version__ = "0.1.0"
HARNESS_API_VERSION = "2.0"


@hookimpl
def harness_register_models() -> list[ModelSpec]:
    return [ModelSpec(
        name="hf",
        implementation="harness.models.plugin:make_hf_adapter",
        description=("transformers causal LM: pretrained=<hub id | path | smollm2-135m | gemma3-270m>, gguf_file=, dtype=, device=, "
                     "batch_size=, threads=N|auto, trust_remote_code=true|false, add_bos_token=true|false"),
    )]


def make_hf_adapter(pretrained: str = "smollm2-135m", **args: Any) -> Any:
    """Build an HFAdapter from ``--model-args``, typed by :func:`harness.models.args.bind_model_args`
    (the runner does that first, against :func:`hf_options`); the model is checked before any weights are read."""
    from harness.models.args import ModelArgError, check_pretrained, load_failure
    from harness.models.embedded import EMBEDDED, EmbeddedModelMissing, load_embedded
    from harness.models.hf import HFAdapter

    pretrained = check_pretrained(pretrained)
    try:
        if pretrained in EMBEDDED:
            return load_embedded(pretrained, **args)
        return HFAdapter.from_pretrained(pretrained, **args)
    except EmbeddedModelMissing as err:
        raise ModelArgError(str(err)) from None
    except (OSError, ImportError) as err:
        raise load_failure(pretrained, err) from None


def hf_options() -> Any:
    """The hf adapter's arguments: those of :meth:`HFAdapter.from_pretrained` and :class:`HFAdapter` itself."""
    from harness.models.hf import HFAdapter
    from harness.options import options_of

    return options_of(make_hf_adapter, HFAdapter.from_pretrained, HFAdapter.__init__, skip=("model", "tokenizer", "source"))


make_hf_adapter.harness_options = hf_options  # type: ignore[attr-defined]
