"""The RAVEL benchmark (Huang et al., ACL 2024) on the harness's Benchmark contract.

A sample is one (entity type, method, target attribute) cell: fit the method's feature for
the target attribute at the chosen layer, intervene on every evaluation example (all
attributes' templates) and score Cause / Isolate / Disentangle per evaluation split. The
model-specific instance (known pairs, sampled sources) is built once per entity type in
:meth:`RavelBenchmark.samples` and cached per model fingerprint under the run's cache dir.

Every cell is scored under each matching rule (``matching``, default ``[strict, paper]``; the
first is the headline: plain ``cause``/``isolate``/``disentangle`` and ``<method>/<metric>``;
the others are ``<method>/<rule>/<metric>``). The sample log keeps one record per intervened
example; with ``featurizer_dir`` set, each cell's fitted intervention is saved there as
``<type>__<target>__<method>.safetensors`` (:mod:`harness_plugins.ravel.artifacts` reloads it).
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
from harness_tasks import data_dir
from harness_plugins.ravel.data import RavelData, load_entity_type
from harness_plugins.ravel.instance import EVAL_SPLITS, InstanceConfig, RavelInstance, build_instance, cache_path, data_key
from harness_plugins.ravel.methods import METHODS, FeaturizerCache, MethodConfig, NoTrainingData, fit_method
from harness_plugins.ravel.featurizers import SAEConfig
from harness_plugins.ravel.matching import RULES
from harness_plugins.ravel.metrics import average, saebench_pair, score

SHIPPED_DATA = data_dir("ravel")
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
        max_new_tokens: int = 10,
        batch_size: int = 32,
        seed: int = 0,
        matching: Sequence[str] = RULES,
        featurizer_dir: str | None = None,
        saebench_attributes: dict[str, list[str]] | None = None,
    ):
        self.data_path = _data_folder(data_path)
        self.entity_types = list(entity_types)
        self.attributes = attributes
        self.targets = targets
        unknown = [m for m in methods if m not in METHODS and ":" not in m]
        if unknown:
            raise ValueError(f"unknown method(s) {unknown}; choose from {list(METHODS)} or give a featurizer as 'module:factory'")
        bad_rules = [r for r in matching if r not in RULES]
        if bad_rules or not matching:
            raise ValueError(f"matching {list(matching)}: choose one or more of {list(RULES)} (the first is the headline)")
        self.rules = list(matching)
        self.featurizer_dir = Path(os.path.expanduser(featurizer_dir)) if featurizer_dir else None
        self.saebench_attributes = dict(saebench_attributes or {})
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
        from harness_plugins.ravel.runner import RavelRunner

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
            runner = self._get_runner(model)
            inst = build_instance(data, cfg, runner.complete, fingerprint, runner.n_tokens)
            ctx.logger.info("ravel: built %s instance in %.1fs: %s (known rate %s)", entity_type, time.time() - t0, inst.counts(), inst.known_rate)
            if path is not None:
                inst.save(path)
        empty = [f"{a}/{s}" for a in inst.attributes for s in self.eval_splits if not inst.counts().get(s, {}).get(a)]
        if empty:
            ctx.logger.warning("ravel %s: no examples for (attribute/split) %s; their terms are reported as missing", entity_type, empty)
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
                    out.append(Sample(id=f"{entity_type}/{target}/{method.replace('/', '_')}", doc=doc))
        return out[: ctx.limit] if ctx.limit else out

    def evaluate(self, model: Any, samples: Sequence[Sample], ctx: TaskContext) -> list[SampleResult]:
        from harness_plugins.ravel.scoring import outcomes_from_records

        runner = self._get_runner(model)
        results = []
        for sample in samples:
            doc = sample.doc
            inst = self._instance(model, doc["entity_type"], ctx)
            t0 = time.time()
            try:
                fn, info = fit_method(doc["method"], doc["target"], runner, inst.split("train"), self.method_config, self._featurizers, doc["entity_type"])
            except NoTrainingData as err:  # reported as missing, never averaged as if present
                ctx.logger.warning("ravel %s: not fitted: %s", sample.id, err)
                results.append(SampleResult(sample.id, {m: math.nan for m in METRICS}, {"missing": {"fit": str(err)}}))
                continue
            fit_s = time.time() - t0
            values: dict[str, Any] = {}
            log: dict[str, Any] = {"fit": info, "site": runner.site, "fit_seconds": round(fit_s, 2), "rules": self.rules}
            if self.featurizer_dir is not None:
                log["featurizer"] = self._save(fn, sample, runner.site, info)
            per_rule: dict[str, dict] = {r: {} for r in self.rules}
            for split in self.eval_splits:
                examples = inst.split(split)
                recs = runner.records(fn, examples) if examples else []
                log.setdefault("examples", {})[split] = recs
                for rule in self.rules:
                    kept, dropped = outcomes_from_records(recs, rule)
                    per_rule[rule][split] = score(kept, doc["target"], inst.attributes, dropped).as_dict()
            for i, rule in enumerate(self.rules):
                prefix = "" if i == 0 else f"{rule}/"
                coverage: dict = {}
                for split, cell in per_rule[rule].items():
                    for m in METRICS:
                        values[f"{prefix}{split}/{m}"] = cell[m]
                    values[f"{prefix}{split}/isolate_by_attribute"] = cell["isolate_by_attribute"]
                values.update({f"{prefix}{k}": v for k, v in average(per_rule[rule], coverage).items()})
                log.setdefault("coverage", {})[rule] = coverage
            missing = {r: {s: c["missing"] for s, c in per_rule[r].items() if c["missing"]} for r in self.rules}
            missing = {r: m for r, m in missing.items() if m}
            if missing:
                ctx.logger.warning("ravel %s: missing terms %s", sample.id, missing)
            log["per_split"] = per_rule[self.rules[0]]
            log["per_rule"] = per_rule
            log["missing"] = missing
            log["eval_seconds"] = round(time.time() - t0 - fit_s, 2)
            results.append(SampleResult(sample.id, values, log))
        return results

    def _save(self, fn: Any, sample: Sample, site: int, info: dict) -> dict:
        from harness_plugins.ravel.artifacts import save_cell

        name = sample.id.replace("/", "__") + ".safetensors"
        facts = {**sample.doc, "site": site, "fit": info}
        digest = save_cell(self.featurizer_dir / name, fn, facts)
        return {"file": name, "sha256": digest}

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
        prefixes = [""] + [f"{r}/" for r in self.rules[1:]]
        keys = [f"{p}{k}" for p in prefixes for k in list(METRICS) + [f"{s}/{m}" for s in self.eval_splits for m in METRICS]]
        missing_cells: dict[str, list[str]] = {}
        for method, types in grid.items():
            type_means = {t: _mean_keys(cells.values(), keys) for t, cells in types.items()}
            for t, cells in types.items():
                for k in keys:
                    gone = [a for a, v in cells.items() if not _present(v.get(k))]
                    if gone:
                        missing_cells.setdefault(f"{method}/{t}/{k}", gone)
                pair = self.saebench_attributes.get(t) or sorted(cells)[:2]
                for p in prefixes:
                    type_means[t][f"{p}saebench"] = _saebench(cells, pair, p, self.eval_splits)
            per_type[method] = type_means
            overall[method] = _mean_keys(type_means.values(), keys + [f"{p}saebench" for p in prefixes])
            metrics.update({f"{method}/{k}": v for k, v in overall[method].items()})
        if missing_cells:
            ctx.logger.warning("ravel: averages left out missing cells (NaN): %s", missing_cells)
        stderr = {f"{method}/{m}": se for method in grid for m, se in _method_stderr(results, method).items()}
        primary = self.primary_method if self.primary_method in overall else next(iter(overall), None)
        if primary is not None:
            metrics.update({m: overall[primary][m] for m in METRICS})
            stderr.update({m: stderr[f"{primary}/{m}"] for m in METRICS if f"{primary}/{m}" in stderr})
        details = {
            "methods": overall,  # method -> {cause, isolate, disentangle, <split>/<metric>}
            "primary": primary,
            "grid": grid,  # method -> entity type -> target attribute -> values
            "per_type": per_type,
            "layer": self.layer,
            "site": self._runner.site if self._runner else None,
            "instances": {t: {"counts": i.counts(), "known_rate": i.known_rate, "attributes": i.attributes, "config": asdict(i.config)} for t, i in self._instances.items()},
            "method_config": asdict(self.method_config),
            "rules": self.rules,
            "missing_cells": missing_cells,  # "<method>/<type>/<metric>" -> targets left out of that average
            "empty": {t: sorted(f"{a}/{s}" for a in i.attributes for s in self.eval_splits if not i.counts().get(s, {}).get(a))
                      for t, i in self._instances.items()},  # (attribute, split) without examples
        }
        return TaskResult(metrics=metrics, stderr=stderr, n_samples=len(results), details=details)


def _method_stderr(results: Sequence[SampleResult], method: str) -> dict[str, float]:
    """Approximate standard errors of a method's Cause / Isolate / Disentangle (first rule, mean
    over splits): each split's rate as a binomial fraction of its n examples, the errors of the
    independent parts combined through the same means as the metrics (splits, targets, types)."""
    by_type: dict[str, list[dict[str, float]]] = {}
    for r in results:
        entity_type, _, m = r.sample_id.split("/")
        cells = r.log.get("per_split") if m == method else None
        if not cells:
            continue
        var: dict[str, list[float]] = {"cause": [], "isolate": []}
        for cell in cells.values():
            for key, n in (("cause", cell.get("n_cause", 0)), ("isolate", cell.get("n_isolate", 0))):
                p = cell.get(key)
                if _present(p) and n:
                    q = (p * n + 1) / (n + 2)  # add-one (Agresti-Coull style): no zero error at rates of 0 or 1
                    var[key].append(q * (1 - q) / (n + 2))
        if not var["cause"] or not var["isolate"]:
            continue
        v = {k: sum(x) / len(x) ** 2 for k, x in var.items()}  # variance of the mean over splits
        v["disentangle"] = (v["cause"] + v["isolate"]) / 4
        by_type.setdefault(entity_type, []).append(v)
    if not by_type:
        return {}
    type_vars = [{k: sum(c[k] for c in cells) / len(cells) ** 2 for k in cells[0]} for cells in by_type.values()]
    return {k: math.sqrt(sum(t[k] for t in type_vars) / len(type_vars) ** 2) for k in type_vars[0]}


def _saebench(cells: dict[str, dict], pair: Sequence[str], prefix: str, splits: Sequence[str]) -> float:
    """SAEBench's two-attribute score for one entity type, averaged over evaluation splits."""
    if len(pair) != 2 or any(a not in cells for a in pair):
        return math.nan
    vals = []
    for s in splits:
        per = {a: {"cause": cells[a].get(f"{prefix}{s}/cause", math.nan),
                   "isolate_by_attribute": cells[a].get(f"{prefix}{s}/isolate_by_attribute", {})} for a in pair}
        v = saebench_pair(per, *pair)
        if _present(v):
            vals.append(v)
    return sum(vals) / len(vals) if vals else math.nan


def _present(v: Any) -> bool:
    return isinstance(v, (int, float)) and not math.isnan(v)


def _mean_keys(rows: Any, keys: Sequence[str]) -> dict[str, float]:
    rows = list(rows)
    out = {}
    for k in keys:
        vals = [r[k] for r in rows if k in r and r[k] is not None and not (isinstance(r[k], float) and math.isnan(r[k]))]
        out[k] = sum(vals) / len(vals) if vals else math.nan
    return out
