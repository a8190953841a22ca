"""Typed registrations returned by plugin hooks.

Implementations are referenced by ``"module:attribute"`` strings (or given directly as
objects); :func:`resolve` imports them only when a run needs them.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable


class RegistrationError(ValueError):
    """A plugin returned a malformed registration."""


def resolve(ref: str | Callable[..., Any]) -> Any:
    """Import ``"package.module:attr"`` (or return ``ref`` when it is already an object)."""
    if not isinstance(ref, str):
        return ref
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise RegistrationError(f"implementation reference {ref!r} is not 'module:attribute'")
    module = importlib.import_module(module_name)
    try:
        obj = module
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError as err:
        raise RegistrationError(f"{ref!r}: {module_name} has no attribute {attr!r}") from err
    return obj


@dataclass(frozen=True)
class MetricSpec:
    """How a metric is named and ordered on reports and leaderboards."""

    name: str
    display_name: str = ""
    higher_is_better: bool = True
    description: str = ""

    @property
    def label(self) -> str:
        return self.display_name or self.name


@dataclass(frozen=True)
class BenchmarkSpec:
    """A benchmark: task YAML files name it with ``benchmark: NAME``."""

    name: str
    implementation: str | Callable[..., Any]  # a harness.benchmark.Benchmark subclass
    description: str = ""
    metrics: tuple[MetricSpec, ...] = ()
    plugin: str = ""  # filled in by the plugin manager

    def load(self) -> Any:
        return resolve(self.implementation)


@dataclass(frozen=True)
class ModelSpec:
    """A model adapter: ``--model NAME --model-args k=v,...``."""

    name: str
    implementation: str | Callable[..., Any]  # callable(**model_args) -> ModelAdapter; its signature types the model args
    description: str = ""
    plugin: str = ""

    def load(self) -> Any:
        return resolve(self.implementation)


@dataclass(frozen=True)
class DecoderSpec:
    """A decoding strategy: ``decoding=NAME,param=value`` in model args or a request."""

    name: str
    implementation: str | Callable[..., Any]  # callable(adapter, **params) -> NextTokenRule; params typed by its signature or .params dataclass
    description: str = ""
    plugin: str = ""

    def load(self) -> Any:
        return resolve(self.implementation)


@dataclass(frozen=True)
class FeaturizerSpec:
    """A featurizer: a direction estimator that benchmarks build by name (``make_featurizer``)."""

    name: str
    implementation: str | Callable[..., Any]  # a harness.interventions.featurizers.Featurizer subclass
    description: str = ""
    plugin: str = ""

    def load(self) -> Any:
        return resolve(self.implementation)


@dataclass(frozen=True)
class PlotSpec:
    """A leaderboard plot kind: ``implementation(entries, ctx) -> list[Plot]`` (see
    :mod:`harness.leaderboard.plots`), drawn once per benchmark it applies to."""

    name: str
    implementation: str | Callable[..., Any]
    title: str = ""
    #: The benchmarks whose entries it draws; empty means every benchmark of its plugin.
    benchmarks: tuple[str, ...] = ()
    plugin: str = ""

    def load(self) -> Any:
        return resolve(self.implementation)


def check_spec(spec: Any, expected: type[Any], plugin: str) -> Any:
    """Validate one registration; raise :class:`RegistrationError` naming the plugin."""
    if not isinstance(spec, expected):
        raise RegistrationError(
            f"plugin {plugin!r} returned {type(spec).__name__} where a {expected.__name__} was expected"
        )
    if not isinstance(spec.name, str) or not spec.name or not spec.name.replace("_", "").replace("-", "").replace(".", "").isalnum():
        raise RegistrationError(f"plugin {plugin!r}: {expected.__name__} name {spec.name!r} is not a valid identifier")
    if isinstance(spec, PlotSpec) and (isinstance(spec.benchmarks, str) or not all(isinstance(b, str) for b in spec.benchmarks)):
        raise RegistrationError(f"plugin {plugin!r}: plot {spec.name!r} benchmarks must be a tuple of benchmark names")
    if isinstance(spec, BenchmarkSpec):
        for metric in spec.metrics:
            if not isinstance(metric, MetricSpec):
                raise RegistrationError(f"plugin {plugin!r}: benchmark {spec.name!r} metrics must be MetricSpec objects")
    return spec


@dataclass
class Registry:
    """Everything the loaded plugins registered, by name."""

    benchmarks: dict[str, BenchmarkSpec] = field(default_factory=dict)
    models: dict[str, ModelSpec] = field(default_factory=dict)
    decoders: dict[str, DecoderSpec] = field(default_factory=dict)
    featurizers: dict[str, FeaturizerSpec] = field(default_factory=dict)
    plots: dict[str, PlotSpec] = field(default_factory=dict)  # keyed "plugin:name" (names are per plugin)

    def tables(self) -> tuple[dict[str, Any], ...]:
        return (self.benchmarks, self.models, self.decoders, self.featurizers, self.plots)
