"""The CausalGym benchmark (Arora, Jurafsky & Potts, ACL 2024) on the harness.

One benchmark sample is one cell of the sweep, ``(task, method, site, position)``, so a killed
sweep resumes cell by cell. Cells are ordered task → site → position → method so that
consecutive batches share one task's cached runs.

Task arguments (task YAML ``args``):

* ``tasks``: CausalGym task names (default: every task of the template file).
* ``templates``: template file(s) in the official format (default: ours, shipped in
  ``tasks/causalgym/data/templates.json``); relative paths are tried from the working
  directory, then from the built-in ``tasks/`` folder.
* ``pairs``: where to read published pair records (a file, a folder with
  ``causalgym_<split>.json``, or ``hf://aryaman/causalgym``); default: sample from templates.
  ``train_split``/``eval_split`` name the splits (``train``/``dev``).
* ``n_train``/``n_eval``: pairs per task (paper: 400/100); records are cut to the first n.
* ``methods``: subset of das, probe, mean, pca, kmeans, lda, random (default: all), or any
  featurizer a plugin registers (``harness_register_featurizers``).
* ``layers``: ``all`` (sites 1..L, the output of every block; the paper's layer i is our
  site i+1) or a list of sites. ``das_layers`` (default: the same) restricts DAS, by far the
  most expensive method, to a subset of them on slow machines.
* ``positions``: only these positions (span names, e.g. ``[name]``; default: every position
  from the first one that differs between base and source).
* ``control``: also run the control task and report selectivity (default true).
* ``das_control``: with ``control``, also retrain DAS on the control labels (default true);
  false halves DAS's cost and leaves DAS without selectivity (the other methods keep theirs,
  which cost no extra training).
* ``das``: overrides of DAS's training options (lr, batch_size, rank; to convergence on held-out
  training pairs by default, ``converge: false`` restores the paper's fixed schedule); the keys
  and their defaults are :class:`~harness_plugins.causalgym.das_options.DASOptions`.
* ``methods`` may also name a featurizer from outside as ``module:factory``
  (:mod:`harness.interventions.external`; ``external`` holds its keyword options).
* ``featurizer_dir``: save every cell's fitted direction(s) there (``.safetensors``, one file per
  evaluate call, named in each sample's log) so a run can be re-scored without refitting.
* ``probe_C``: inverse L2 strength of the logistic-regression probe (1.0).
* ``bos``: what the records' ``<|endoftext|>`` becomes (auto, keep, bos, none).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

from harness.benchmark import Benchmark, Sample, SampleResult, TaskContext, TaskResult, mean_and_stderr
from harness.whitebox.capabilities import Capability
from harness_plugins.causalgym.das_options import DASOptions

log = logging.getLogger("harness.causalgym")

ALL_METHODS = ("das", "probe", "mean", "pca", "kmeans", "lda", "random")
DEFAULT_TEMPLATES = "causalgym/data/templates.json"
LOW_ACCURACY = 0.6


class CausalGymBenchmark(Benchmark):
    requires = frozenset({Capability.SITE_READ, Capability.SITE_EDIT, Capability.GRAD_INTERVENTIONS})  # cached re-run: used when offered
    samples_per_call = len(ALL_METHODS)

    def __init__(
        self,
        tasks: Sequence[str] | str | None = None,
        templates: str | Sequence[str] = DEFAULT_TEMPLATES,
        pairs: str | None = None,
        train_split: str = "train",
        eval_split: str = "dev",
        n_train: int = 400,
        n_eval: int = 100,
        methods: Sequence[str] = ALL_METHODS,
        layers: str | Sequence[int] = "all",
        das_layers: str | Sequence[int] = "all",
        positions: Sequence[str] | None = None,
        control: bool = True,
        das_control: bool = True,
        das: dict[str, Any] | None = None,
        probe_C: float = 1.0,
        bos: str = "auto",
        featurizer_dir: str | None = None,
        external: dict[str, Any] | None = None,
    ):
        self.task_names = [tasks] if isinstance(tasks, str) else (list(tasks) if tasks is not None else None)
        self.template_files = [templates] if isinstance(templates, str) else list(templates)
        self.pairs_source = pairs
        self.train_split, self.eval_split = train_split, eval_split
        if n_train < 2 or n_eval < 2:
            raise ValueError(f"n_train and n_eval must be at least 2 (got {n_train}, {n_eval})")
        self.n_train, self.n_eval = int(n_train), int(n_eval)
        if isinstance(methods, str) or not methods or not all(isinstance(m, str) and m for m in methods):
            raise ValueError(f"methods must be a non-empty list of featurizer names, got {methods!r}")
        self.featurizer_dir = Path(featurizer_dir).expanduser() if featurizer_dir else None
        self.external = dict(external or {})
        self.methods = list(methods)
        if layers != "all" and (isinstance(layers, str) or not all(isinstance(x, int) for x in layers)):
            raise ValueError(f"layers must be 'all' or a list of site numbers, got {layers!r}")
        if das_layers != "all" and (isinstance(das_layers, str) or not all(isinstance(x, int) for x in das_layers)):
            raise ValueError(f"das_layers must be 'all' or a list of site numbers, got {das_layers!r}")
        self.layers, self.das_layers = layers, das_layers
        if positions is not None and (isinstance(positions, str) or not all(isinstance(x, str) for x in positions) or not positions):
            raise ValueError(f"positions must be a non-empty list of position names, got {positions!r}")
        self.positions = list(positions) if positions is not None else None
        self.das, self.control, self.probe_C, self.bos = DASOptions.from_args(das), bool(control), float(probe_C), bos
        self.das_control = bool(das_control)
        self._templates: dict[str, Any] | None = None
        self._pairs: dict[str, tuple[list[Any], list[Any]]] = {}
        self._state: Any = None
        self._engine: Any = None

    # --- data --------------------------------------------------------------------------------

    def templates(self) -> dict[str, Any]:
        if self._templates is None:
            from harness_plugins.causalgym.templates import load_templates

            merged: dict[str, Any] = {}
            for name in self.template_files:
                merged.update(load_templates(_resolve_path(name)))
            self._templates = merged
        return self._templates

    def task_list(self) -> list[str]:
        if self.task_names is not None:
            return self.task_names
        if self.pairs_source is None:
            return list(self.templates())
        from harness_plugins.causalgym.pairs import load_pairs

        return sorted({p.task for p in load_pairs(self.pairs_source, self.eval_split)})

    def pairs_for(self, task: str, seed: int) -> tuple[list[Any], list[Any]]:
        """(train, eval) pairs of one task: read from records, or sampled with disjoint bases."""
        if task not in self._pairs:
            from harness_plugins.causalgym.pairs import load_pairs, make_splits

            if self.pairs_source is not None:
                train = load_pairs(self.pairs_source, self.train_split, [task])[: self.n_train]
                evals = load_pairs(self.pairs_source, self.eval_split, [task])[: self.n_eval]
            else:
                templates = self.templates()
                if task not in templates:
                    raise ValueError(f"task {task!r} is not in the template file(s) {self.template_files} "
                                     f"(known: {', '.join(templates)})")
                splits = make_splits(templates[task], {"train": self.n_train, "dev": self.n_eval}, seed=seed)
                train, evals = splits["train"], splits["dev"]
            self._pairs[task] = (train, evals)
        return self._pairs[task]

    def template_of(self, task: str) -> Any:
        try:
            return self.templates().get(task)
        except Exception:  # noqa: BLE001 - records may come without a readable template file
            return None

    # --- harness protocol ----------------------------------------------------------------------

    def samples(self, model: Any, ctx: TaskContext) -> list[Sample]:
        from harness_plugins.causalgym.prepare import label_span_start, span_names

        known = featurizer_names(ctx)
        unknown = [m for m in self.methods if m not in known and ":" not in m]
        if unknown:
            raise ValueError(f"unknown method(s) {unknown}; registered featurizers: {', '.join(sorted(known))}, or 'module:factory'")
        n_layers = getattr(model, "num_layers", None)
        if not isinstance(n_layers, int):
            raise TypeError(f"CausalGym needs a white-box model with layers (got {type(model).__name__})")
        sites = list(range(1, n_layers + 1)) if self.layers == "all" else list(self.layers)
        bad = [s for s in sites if not 0 <= s <= n_layers]
        if bad:
            raise ValueError(f"layers {bad} are outside 0..{n_layers} for this model")
        out = []
        for task in self.task_list():
            train, evals = self.pairs_for(task, ctx.seed)
            template = self.template_of(task)
            start = label_span_start(train + evals, template)
            spans = list(range(start, len(evals[0].base)))
            names = dict(zip(spans, span_names(template, spans)))
            if self.positions is not None:
                missing = [p for p in self.positions if p not in names.values()]
                if missing:
                    raise ValueError(f"task {task!r}: positions {missing} not found (known: {', '.join(names.values())})")
                spans = [s for s in spans if names[s] in self.positions]
            for site in sites:
                for span in spans:
                    for method in self.methods:
                        if method == "das" and self.das_layers != "all" and site not in self.das_layers:
                            continue
                        doc = {"task": task, "method": method, "site": site, "span": span, "position": names[span]}
                        out.append(Sample(id=f"{task}/{method}/site{site}/span{span}", doc=doc))
        return out

    def evaluate(self, model: Any, samples: Sequence[Sample], ctx: TaskContext) -> list[SampleResult]:
        from harness_plugins.causalgym.sweep import SweepConfig, run_cell

        cfg = SweepConfig(das=self.das, probe_C=self.probe_C, control=self.control, das_control=self.das_control,
                          seed=ctx.seed, external=self.external)
        cfg.featurizers = ctx.registry
        results, modules = [], {}
        for sample in samples:
            d = sample.doc
            state = self._task_state(model, d["task"], ctx)
            values, log = run_cell(state, self._engine, d["method"], d["site"], d["span"], cfg)
            key = sample.id.replace("/", "__")
            for name, fn in log.pop("modules").items():
                modules[f"{key}.{name}"] = fn
                log.setdefault("tensors", []).append(f"{key}.{name}")
            decode = model.tokenizer.decode
            for rec in log.get("pairs", []):
                rec["base_label"], rec["expected"] = decode([rec["base_label"]]), decode([rec["expected"]])
            results.append(SampleResult(sample_id=sample.id, values=values, log=log))
        if self.featurizer_dir is not None and modules:
            import hashlib

            from harness.interventions.saving import save

            name = hashlib.sha256("|".join(s.id for s in samples).encode()).hexdigest()[:16] + ".safetensors"
            digest = save(self.featurizer_dir / name, modules, {"samples": [s.id for s in samples]})
            for r in results:
                if r.log.get("tensors"):
                    r.log["featurizer"] = {"file": name, "sha256": digest}
        return results

    def aggregate(self, results: Sequence[SampleResult], ctx: TaskContext) -> TaskResult:
        from harness_plugins.causalgym.metrics import summarize

        cells = [dict(r.values) for r in results]
        metrics: dict[str, float] = {}
        stderr: dict[str, float] = {}
        summaries = {}
        for key in ("logodds", "iia", "selectivity", "selectivity_abs"):
            summary = summarize(cells, key)
            summaries[key] = summary
            for method in self.methods:
                per_task = [v[method] for v in summary["by_task"].values() if method in v]
                if per_task:
                    metrics[f"{key}_{method}"], stderr[f"{key}_{method}"] = mean_and_stderr(per_task)
        if len({c["task"] for c in cells}) == 1:  # one task: the standard error over its eval pairs instead
            stderr.update(pair_stderr(results, self.methods))
        accuracy: dict[str, float] = {}
        for cell in cells:
            accuracy[cell["task"]] = cell["task_accuracy"]
        if accuracy:
            metrics["task_accuracy"], stderr["task_accuracy"] = mean_and_stderr(list(accuracy.values()))
        low = sorted(t for t, a in accuracy.items() if a <= LOW_ACCURACY)
        if low:
            ctx.logger.warning("causalgym: model accuracy <= %.1f on %s; effects there are hard to read", LOW_ACCURACY, ", ".join(low))
        sites_by_method: dict[str, set[int]] = {}
        for cell in cells:
            sites_by_method.setdefault(cell["method"], set()).add(int(cell["site"]))
        common = set.intersection(*sites_by_method.values()) if sites_by_method else set()
        details = {
            "grid": cells,
            "common_sites": sorted(common),
            "logodds_common_sites": summarize([c for c in cells if int(c["site"]) in common], "logodds")["by_method"],
            "curves": summaries["logodds"]["curves"],
            "by_task": {k: s["by_task"] for k, s in summaries.items()},
            "task_accuracy": accuracy,
            "control_leakage": {c["task"]: c.get("control_leakage") for c in cells},  # control log-odds change, base -> source sentence
            "low_accuracy_tasks": low,
            "skipped_cells": sum(1 for c in cells if c.get("skipped")),
            "methods": self.methods,
        }
        return TaskResult(metrics=metrics, stderr=stderr, n_samples=len(results), details=details)

    # --- cached per-task state -------------------------------------------------------------------

    def _task_state(self, model: Any, task: str, ctx: TaskContext) -> Any:
        if self._state is not None and self._state.task == task:
            return self._state
        self._state = None  # free the previous task's runs first
        from harness_plugins.causalgym.prepare import prepare
        from harness_plugins.causalgym.sweep import build_state

        self._engine = model.interchange_engine()  # built once per adapter, by the adapter
        train, evals = self.pairs_for(task, ctx.seed)
        template = self.template_of(task)
        prep_train = prepare(train, model.tokenizer, template, self.bos)
        prep_eval = prepare(evals, model.tokenizer, template, self.bos)
        log.info("causalgym %s: running %d train and %d eval pairs once", task, len(train), len(evals))
        sites = None if self.layers == "all" else sorted(set(self.layers) | (set() if self.das_layers == "all" else set(self.das_layers)))
        self._state = build_state(self._engine, prep_train, prep_eval, self._engine.pad_id, sites)
        return self._state


def featurizer_names(ctx: TaskContext) -> set[str]:
    """The featurizers this run may use: the run's registry (any plugin's), else the core's."""
    if ctx.registry is not None:
        return set(ctx.registry.featurizers)
    from harness.interventions.featurizers import core_registry

    return set(core_registry().featurizers)


def pair_stderr(results: Sequence[SampleResult], methods: Sequence[str]) -> dict[str, float]:
    """Standard error of ``logodds_<method>`` over eval pairs: each pair's effect averaged over the
    cells the summary picks (the best position at each site), for a run with one task."""
    import statistics

    best: dict[tuple[str, int], SampleResult] = {}
    for r in results:
        v = r.values
        if v.get("logodds") is None or not r.log.get("pairs"):
            continue
        key = (v["method"], int(v["site"]))
        if key not in best or v["logodds"] > best[key].values["logodds"]:
            best[key] = r
    out = {}
    for method in methods:
        chosen = [r for (m, _), r in best.items() if m == method]
        per_pair: dict[int, list[float]] = {}
        for r in chosen:
            for rec in r.log["pairs"]:
                per_pair.setdefault(int(rec["pair"]), []).append(float(rec["effect"]))
        means = [sum(v) / len(v) for v in per_pair.values() if len(v) == len(chosen)]
        if len(means) >= 2:
            out[f"logodds_{method}"] = statistics.stdev(means) / len(means) ** 0.5
    return out


def _resolve_path(name: str) -> Path:
    path = Path(name).expanduser()
    if path.exists():
        return path
    from harness_tasks import TASK_ROOT

    builtin = TASK_ROOT / name
    if builtin.exists():
        return builtin
    raise FileNotFoundError(f"template file {name!r} not found (looked in the working directory and in the shipped task data)")
