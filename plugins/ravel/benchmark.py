"""The RAVEL benchmark (Huang et al., ACL 2024) on the harness's Benchmark contract.

A sample is one (entity type, method, target attribute) cell: fit the method's feature for
the target attribute at the chosen layer, intervene on every evaluation example (all
attributes' templates) and score Cause / Isolate / Disentangle per evaluation split. The
model-specific instance (known pairs, sampled sources) is built once per entity type in
:meth:`RavelBenchmark.samples` and cached per model fingerprint under the run's cache dir.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

from harness.benchmark import Benchmark, Sample, SampleResult, TaskContext, TaskResult
from harness.whitebox.capabilities import Capability
from plugins.ravel.data import RavelData, load_entity_type
from plugins.ravel.instance import EVAL_SPLITS, InstanceConfig, RavelInstance, build_instance, cache_path, data_key
from plugins.ravel.methods import METHODS, FeaturizerCache, MethodConfig, fit_method
from plugins.ravel.featurizers import SAEConfig
from plugins.ravel.metrics import average, score

SHIPPED_DATA = Path(__file__).resolve().parents[2] / "tasks" / "ravel" / "data"
METRICS = ("cause", "isolate", "disentangle")


def _data_folder(data_path: str | None) -> Path:
    """The shipped data, or a folder given in the task (``~`` and ``$VARS`` expanded)."""
    if not data_path:
        return SHIPPED_DATA
    expanded = os.path.expanduser(os.path.expandvars(data_path))
    if "$" in expanded:
        raise ValueError(f"data_path {data_path!r}: environment variable not set (e.g. export RAVEL_DATA=/path/to/ravel/data)")
    folder = Path(expanded)
    if not folder.is_dir():
        raise ValueError(f"data_path {data_path!r} ({folder}) is not a folder with RAVEL's ravel_<type>_*.json files")
    return folder


def resolve_layer(layer: int | str, num_layers: int) -> int:
    """``"middle"`` -> num_layers // 2; an int is a site (0 = embeddings, l = output of block l)."""
    if layer == "middle":
        return num_layers // 2
    if isinstance(layer, int) and 0 <= layer <= num_layers:
        return layer
    raise ValueError(f"layer must be 'middle' or an int in 0..{num_layers}, got {layer!r}")


class RavelBenchmark(Benchmark):
    """Cause / Isolate / Disentangle of interpretability methods on entity attributes."""
    requires = frozenset({Capability.GENERATION, Capability.SITE_READ, Capability.SITE_EDIT, Capability.GRAD_INTERVENTIONS})  # cached re-run: used when offered

    samples_per_call = 1  # one (type, method, target) cell per call: each is a training run

    def __init__(
        self,
        data_path: str | None = None,
        entity_types: Sequence[str] = ("city",),
        attributes: dict[str, list[str]] | list[str] | None = None,
        targets: list[str] | None = None,
        methods: Sequence[str] = ("pca", "sae", "dbm", "das", "mdas"),
        layer: int | str = "middle",
        eval_splits: Sequence[str] = EVAL_SPLITS,
        instance: dict[str, Any] | None = None,
        method_args: dict[str, Any] | None = None,
        primary_method: str = "mdas",
        max_new_tokens: int = 3,
        batch_size: int = 32,
        seed: int = 0,
    ):
        self.data_path = _data_folder(data_path)
        self.entity_types = list(entity_types)
        self.attributes = attributes
        self.targets = targets
        unknown = [m for m in methods if m not in METHODS]
        if unknown:
            raise ValueError(f"unknown method(s) {unknown}; choose from {list(METHODS)}")
        self.methods = list(methods)
        self.primary_method = primary_method  # whose scores are also reported as plain cause/isolate/disentangle
        self.layer = layer
        bad = [s for s in eval_splits if s not in EVAL_SPLITS]
        if bad:
            raise ValueError(f"eval_splits {bad} not in {list(EVAL_SPLITS)}")
        self.eval_splits = list(eval_splits)
        self.instance_args = dict(instance or {})
        margs = dict(method_args or {})
        sae = SAEConfig(**margs.pop("sae", {}))
        self.method_config = MethodConfig(**margs, sae=sae, seed=seed)
        self.max_new_tokens, self.gen_batch_size, self.seed = max_new_tokens, batch_size, seed
        self._data: dict[str, RavelData] = {}
        self._instances: dict[str, RavelInstance] = {}
        self._runner = None
        self._featurizers = FeaturizerCache()

    # -- setup ------------------------------------------------------------------------------
    def _attributes_for(self, entity_type: str) -> list[str] | None:
        if isinstance(self.attributes, dict):
            return self.attributes.get(entity_type)
        return self.attributes

    def _get_runner(self, model: Any):
        from plugins.ravel.runner import RavelRunner

        if self._runner is None or self._runner.adapter is not model:
            site = resolve_layer(self.layer, model.num_layers)
            self._runner = RavelRunner(model, site, self.max_new_tokens, self.gen_batch_size)
        return self._runner

    def _instance(self, model: Any, entity_type: str, ctx: TaskContext) -> RavelInstance:
        if entity_type in self._instances:
            return self._instances[entity_type]
        data = self._data.setdefault(entity_type, load_entity_type(self.data_path, entity_type))
        cfg = InstanceConfig(**{**self.instance_args, "attributes": self._attributes_for(entity_type),
                                "max_new_tokens": self.max_new_tokens, "seed": self.seed})
        fingerprint = model.fingerprint()
        path = cache_path(ctx.cache_dir, data, cfg, fingerprint, data_key(self.data_path, entity_type)) if ctx.cache_dir else None
        if path is not None and path.exists():
            inst = RavelInstance.load(path)
            ctx.logger.info("ravel: %s instance read from %s", entity_type, path)
        else:
            t0 = time.time()
            inst = build_instance(data, cfg, self._get_runner(model).complete, fingerprint)
            ctx.logger.info("ravel: built %s instance in %.1fs: %s (known rate %s)", entity_type, time.time() - t0, inst.counts(), inst.known_rate)
            if path is not None:
                inst.save(path)
        self._instances[entity_type] = inst
        return inst

    # -- contract ---------------------------------------------------------------------------
    def samples(self, model: Any, ctx: TaskContext) -> list[Sample]:
        out = []
        for entity_type in self.entity_types:
            inst = self._instance(model, entity_type, ctx)
            targets = self.targets or inst.attributes
            for target in targets:
                if target not in inst.attributes:
                    raise ValueError(f"target attribute {target!r} is not among {entity_type}'s chosen attributes {inst.attributes}")
                for method in self.methods:
                    doc = {"entity_type": entity_type, "method": method, "target": target, "layer": self.layer}
                    out.append(Sample(id=f"{entity_type}/{target}/{method}", doc=doc))
        return out[: ctx.limit] if ctx.limit else out

    def evaluate(self, model: Any, samples: Sequence[Sample], ctx: TaskContext) -> list[SampleResult]:
        runner = self._get_runner(model)
        results = []
        for sample in samples:
            doc = sample.doc
            inst = self._instance(model, doc["entity_type"], ctx)
            t0 = time.time()
            fn, info = fit_method(doc["method"], doc["target"], runner, inst.split("train"), self.method_config, self._featurizers, doc["entity_type"])
            fit_s = time.time() - t0
            values: dict[str, Any] = {}
            log: dict[str, Any] = {"fit": info, "site": runner.site, "fit_seconds": round(fit_s, 2)}
            per_split = {}
            for split in self.eval_splits:
                examples = inst.split(split)
                if not examples:
                    continue
                outcomes, outs = runner.outcomes(fn, examples)
                cell = score(outcomes, doc["target"])
                per_split[split] = cell.as_dict()
                for m in METRICS:
                    values[f"{split}/{m}"] = getattr(cell, m)
                log.setdefault("examples", {})[split] = [
                    {"input": e.input, "source": e.source_input, "label": e.label, "inv_label": e.inv_label, "output": o.text}
                    for e, o in list(zip(examples, outs))[:3]
                ]
            avg = average(per_split)
            values.update(avg)
            log["per_split"] = per_split
            log["eval_seconds"] = round(time.time() - t0 - fit_s, 2)
            results.append(SampleResult(sample.id, values, log))
        return results

    def aggregate(self, results: Sequence[SampleResult], ctx: TaskContext) -> TaskResult:
        """Per method: mean over target attributes within a type, then over types.

        Metrics are ``<method>/<metric>`` and ``<method>/<split>/<metric>``; the primary
        method's (MDAS, the paper's) are also given as plain ``cause``/``isolate``/``disentangle``.
        """
        grid: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
        for r in results:
            entity_type, target, method = r.sample_id.split("/")
            grid.setdefault(method, {}).setdefault(entity_type, {})[target] = r.values
        metrics: dict[str, float] = {}
        per_type: dict[str, Any] = {}
        overall: dict[str, dict[str, float]] = {}
        keys = list(METRICS) + [f"{s}/{m}" for s in self.eval_splits for m in METRICS]
        for method, types in grid.items():
            type_means = {t: _mean_keys(cells.values(), keys) for t, cells in types.items()}
            per_type[method] = type_means
            overall[method] = _mean_keys(type_means.values(), keys)
            metrics.update({f"{method}/{k}": v for k, v in overall[method].items()})
        primary = self.primary_method if self.primary_method in overall else next(iter(overall), None)
        if primary is not None:
            metrics.update({m: overall[primary][m] for m in METRICS})
        details = {
            "methods": overall,  # method -> {cause, isolate, disentangle, <split>/<metric>}
            "primary": primary,
            "grid": grid,  # method -> entity type -> target attribute -> values
            "per_type": per_type,
            "layer": self.layer,
            "site": self._runner.site if self._runner else None,
            "instances": {t: {"counts": i.counts(), "known_rate": i.known_rate, "attributes": i.attributes, "config": asdict(i.config)} for t, i in self._instances.items()},
            "method_config": asdict(self.method_config),
        }
        return TaskResult(metrics=metrics, n_samples=len(results), details=details)


def _mean_keys(rows: Any, keys: Sequence[str]) -> dict[str, float]:
    rows = list(rows)
    out = {}
    for k in keys:
        vals = [r[k] for r in rows if k in r and r[k] is not None and not (isinstance(r[k], float) and math.isnan(r[k]))]
        out[k] = sum(vals) / len(vals) if vals else math.nan
    return out
