"""A plugin-based evaluation harness for language-model interpretability and behaviour research.

The public Python API is small and lazily imported (``import harness`` stays cheap)::

    from harness import run, RunConfig, load_model
    doc = run(RunConfig(tasks=["default"], model_args={"pretrained": "smollm2-135m"}))
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "run": "harness.runner", "RunConfig": "harness.runner",
    "Benchmark": "harness.benchmark", "Sample": "harness.benchmark", "SampleResult": "harness.benchmark",
    "TaskResult": "harness.benchmark", "TaskContext": "harness.benchmark",
    "BenchmarkSpec": "harness.registry", "MetricSpec": "harness.registry", "ModelSpec": "harness.registry",
    "DecoderSpec": "harness.registry", "hookimpl": "harness.hookspecs",
    "HFAdapter": "harness.models.hf", "load_embedded": "harness.models.embedded",
}


def load_model(pretrained: str = "smollm2-135m", **kwargs: Any) -> Any:
    """An HFAdapter for an embedded name, hub id or local path; ``kwargs`` typed by its signature
    (``decoding`` as a whole spec, ``"activation,alpha=0.5,info_layer=16"``)."""
    from harness.models.args import bind_model_args
    from harness.models.plugin import make_hf_adapter

    return make_hf_adapter(**bind_model_args("hf", make_hf_adapter, {"pretrained": pretrained, **kwargs}))


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
