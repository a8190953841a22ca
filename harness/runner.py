"""Run tasks on a model: per-sample logs flushed per batch, resume, lifecycle hooks, results."""

from __future__ import annotations

import logging
import time
import traceback
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from harness.benchmark import Benchmark, Sample, TaskContext, TaskResult
from harness.distributed import current as current_dist
from harness.pluginmanager import PluginManager
from harness.results import (
    SCHEMA_VERSION, RunInfo, SampleLog, environment_info, record_to_result, sample_record, slug, stable_hash,
    write_json_atomic,
)
from harness.tasks import TaskConfig, TaskConfigError, TaskIndex, builtin_task_dir, instantiate

log = logging.getLogger("harness")


class RunError(RuntimeError):
    """A run could not start (bad model, task or arguments); nothing was evaluated."""


@dataclass
class RunConfig:
    model: str = "hf"
    model_args: dict[str, Any] = field(default_factory=dict)
    tasks: list[str] = field(default_factory=lambda: ["default"])
    include_paths: list[Path] = field(default_factory=list)
    batch_size: str | int | None = None
    limit: int | None = None
    seed: int = 1234
    output_path: Path | None = None
    log_samples: bool = False
    resume: bool = False
    cache_requests: Path | None = None
    plugins: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    progress: bool = True


@dataclass
class PlannedTask:
    config: TaskConfig
    benchmark: Benchmark
    spec: Any


def plan(cfg: RunConfig, pm: PluginManager) -> list[PlannedTask]:
    """Resolve tasks and build their benchmarks before any model is loaded (fail fast)."""
    registry = pm.registry()
    index = TaskIndex.scan([builtin_task_dir(), *pm.task_paths(), *cfg.include_paths])
    planned = []
    named = [t for t in cfg.tasks if ":" not in t]
    configs = {tc.name: tc for tc in index.expand(named)} if named else {}
    for name in cfg.tasks:  # `benchmark:arg` runs a benchmark's own task by name, e.g. lm_eval:hellaswag
        if ":" in name:
            bench, _, arg = name.partition(":")
            args: dict[str, Any] = {"task": arg}
            if cfg.include_paths:
                args["include_path"] = [str(p) for p in cfg.include_paths]
            configs[name] = TaskConfig(name=name, benchmark=bench, description=f"{bench} task {arg}", args=args)
    ordered = list(configs.values())
    for tc in ordered:
        spec = registry.benchmarks.get(tc.benchmark)
        if spec is None:
            failed = [f"{i.name} ({i.error})" for i in pm.failures()]
            hint = f"; plugins that failed to load: {', '.join(failed)}" if failed else ""
            raise TaskConfigError(f"{tc.where('benchmark')}: task {tc.name!r} names unknown benchmark {tc.benchmark!r} "
                                  f"(registered: {', '.join(sorted(registry.benchmarks)) or 'none'}){hint}")
        planned.append(PlannedTask(tc, instantiate(tc, spec.load()), spec))
    return planned


def _is_model_path(name: str) -> bool:
    """An embedded model's name or an existing local model folder."""
    from harness.models.embedded import EMBEDDED

    return name in EMBEDDED or (Path(name) / "config.json").exists()


def load_model(cfg: RunConfig, pm: PluginManager) -> Any:
    registry = pm.registry()
    name, args = cfg.model, dict(cfg.model_args)
    if name not in registry.models and "hf" in registry.models and "pretrained" not in args and _is_model_path(name):
        name, args = "hf", {"pretrained": cfg.model, **args}  # `--model smollm2-135m` means the hf adapter
    if name not in registry.models:
        raise RunError(f"unknown model adapter {cfg.model!r} (registered: {', '.join(sorted(registry.models)) or 'none'}); "
                       f"for a model by name or path use --model hf --model-args pretrained=NAME_OR_PATH")
    if cfg.batch_size is not None:
        args["batch_size"] = cfg.batch_size
    dist = current_dist()
    if dist.world > 1 and name == "hf" and "device" not in args:
        import torch

        if torch.cuda.is_available():
            args["device"] = f"cuda:{dist.local_rank}"  # one GPU per process
    try:
        adapter = registry.models[name].load()(**args)
    except (TypeError, ValueError) as err:
        raise RunError(f"--model {cfg.model} --model-args: {err}") from err
    if cfg.cache_requests:
        from harness.models.cache import CachingAdapter

        adapter = CachingAdapter(adapter, Path(cfg.cache_requests))
    return adapter


def run(cfg: RunConfig, pm: PluginManager | None = None, adapter: Any = None) -> dict[str, Any]:
    """Evaluate ``cfg.tasks``; returns the results document (also written under ``output_path``)."""
    pm = pm or PluginManager().load(cfg.plugins, cfg.blocked)
    for info in pm.failures():
        log.warning("plugin %s failed to load: %s", info.name, info.error)
    planned = plan(cfg, pm)
    if adapter is None and any(p.benchmark.needs_model for p in planned):
        adapter = load_model(cfg, pm)
    from harness.models.decoding import set_decoders

    set_decoders(pm.registry().decoders)
    fingerprint = adapter.fingerprint() if adapter is not None else ""
    model_name = getattr(adapter, "name", None) or str(cfg.model_args.get("pretrained", cfg.model))
    out_dir = Path(cfg.output_path) / slug(model_name) if cfg.output_path else None
    started = datetime.now(timezone.utc)
    run_info = RunInfo(run_id=stable_hash([fingerprint, [p.config.name for p in planned], started.isoformat()]),
                       output_dir=out_dir, model_name=model_name, model_args=dict(cfg.model_args),
                       tasks=[p.config.name for p in planned], config=_config_dict(cfg), fingerprint=fingerprint)
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION, "run_id": run_info.run_id, "created": started.isoformat(timespec="seconds"),
        "model": {"name": model_name, "adapter": cfg.model, "args": cfg.model_args, "fingerprint": fingerprint},
        "config": run_info.config, "environment": environment_info(),
        "results": {}, "stderr": {}, "tasks": {}, "details": {}, "errors": {}, "wall_seconds": None,
    }
    dist = current_dist()
    run_info.run_id = dist.broadcast(run_info.run_id)
    doc["run_id"] = run_info.run_id
    results_path = out_dir / f"results_{started.strftime('%Y%m%dT%H%M%S')}_{run_info.run_id[:6]}.json" if out_dir and dist.main else None
    if dist.world > 1:
        doc["config"]["world_size"] = dist.world
    pm.hook.harness_run_start(run=run_info)
    t0 = time.time()
    for p in planned:
        try:
            result, meta = _run_task(p, cfg, adapter, run_info, pm, out_dir)
            if result is None:  # a non-zero rank: rank 0 aggregates and writes
                continue
        except Exception as err:  # noqa: BLE001 - one task failing must not lose the others
            log.error("task %s failed: %s", p.config.name, err)
            doc["errors"][p.config.name] = "".join(traceback.format_exception_only(type(err), err)).strip()
            log.debug("%s", traceback.format_exc())
            continue
        name = p.config.name
        doc["results"][name] = result.metrics
        doc["stderr"][name] = result.stderr
        doc["details"][name] = result.details
        doc["tasks"][name] = meta
        if results_path:
            write_json_atomic(results_path, doc)  # finished tasks survive a later crash
    doc["wall_seconds"] = round(time.time() - t0, 3)
    if not dist.main:
        doc["rank"] = dist.rank
        return doc
    if results_path:
        write_json_atomic(results_path, doc)
        doc["results_path"] = str(results_path)
    pm.hook.harness_run_end(run=run_info, results=doc)
    return doc


def _run_task(p: PlannedTask, cfg: RunConfig, adapter: Any, run_info: RunInfo, pm: PluginManager, out_dir: Path | None) -> tuple[TaskResult | None, dict]:
    name, bench = p.config.name, p.benchmark
    cache_dir = None
    if adapter is not None:
        from harness.models.embedded import cache_root

        cache_dir = cache_root() / "instances" / run_info.fingerprint[:16]
    if bench.needs_model:
        from harness.whitebox.capabilities import check

        check(name, bench.requires, adapter)  # before any data is loaded
    ctx = TaskContext(task=name, seed=cfg.seed, limit=cfg.limit, cache_dir=cache_dir)
    t0 = time.time()
    samples = list(bench.samples(adapter if bench.needs_model else None, ctx))
    if cfg.limit is not None:
        samples = samples[: cfg.limit]
    ids = [s.id for s in samples]
    if len(set(ids)) != len(ids):
        raise RuntimeError(f"benchmark {p.config.benchmark!r} produced duplicate sample ids in task {name!r}")
    key = stable_hash({"task": name, "benchmark": p.config.benchmark, "args": p.config.args, "limit": cfg.limit,
                       "seed": cfg.seed, "model": run_info.fingerprint})
    dist = current_dist()
    sample_log = None
    if out_dir is not None and (cfg.log_samples or cfg.resume) and dist.main:
        meta = {"task": name, "key": key, "benchmark": p.config.benchmark, "args": p.config.args,
                "limit": cfg.limit, "seed": cfg.seed, "model_fingerprint": run_info.fingerprint}
        sample_log = SampleLog(out_dir / f"samples_{slug(name)}_{key[:12]}.jsonl", meta, resume=cfg.resume)
    done = sample_log.done if sample_log else {}
    wanted = set(ids)
    pending_ids = dist.broadcast([s.id for s in samples if s.id not in done])  # rank 0 read the logs
    by_id = {s.id: s for s in samples}
    pending = [by_id[i] for i in pending_ids]
    if dist.main:
        pm.hook.harness_task_start(run=run_info, task=name, n_samples=len(samples), n_done=len(samples) - len(pending))
    bar = tqdm(total=len(samples), initial=len(samples) - len(pending), desc=name, disable=not cfg.progress or not dist.main, dynamic_ncols=True)
    fresh: dict[str, Any] = {}
    model = adapter if bench.needs_model else None
    step = max(1, bench.samples_per_call) * dist.world
    for lo in range(0, len(pending), step):  # each round: every rank takes a strided share
        block = pending[lo : lo + step]
        mine = block[dist.rank :: dist.world]
        try:
            results, error = (bench.evaluate(model, mine, ctx) if mine else []), None
            _check_results(mine, results, name)
        except Exception as err:  # noqa: BLE001 - report on rank 0 instead of hanging the others
            if dist.world == 1:
                raise
            results, error = [], f"rank {dist.rank}: {type(err).__name__}: {err}"
        gathered = dist.gather((results, error))
        if gathered is None:
            continue
        errors = [e for _, e in gathered if e]
        if errors:
            raise RuntimeError("; ".join(errors))
        results = [r for rs, _ in gathered for r in rs]
        if sample_log:
            sample_log.append(sample_record(r, by_id[r.sample_id].doc, by_id[r.sample_id].prompt) for r in results)
        fresh.update({r.sample_id: r for r in results})
        bar.update(len(block))
        pm.hook.harness_batch_end(run=run_info, task=name, n_done=bar.n, n_samples=len(samples))
    bar.close()
    if sample_log:
        sample_log.close()
    if not dist.main:
        return None, {}
    ordered = [fresh[i] if i in fresh else record_to_result(done[i]) for i in ids if i in wanted]
    result = bench.aggregate(ordered, ctx)
    result.n_samples = result.n_samples or len(ordered)
    pm.hook.harness_task_end(run=run_info, task=name, result=result)
    meta = {
        "benchmark": p.config.benchmark, "plugin": p.spec.plugin, "description": p.config.description,
        "args": p.config.args, "n_samples": result.n_samples, "n_resumed": len(samples) - len(pending),
        "wall_seconds": round(time.time() - t0, 3),
        "samples_file": sample_log.path.name if sample_log else None,
        "metrics": {m.name: {"display_name": m.label, "higher_is_better": m.higher_is_better} for m in p.spec.metrics},
    }
    meta["metrics"].update(result.details.pop("metric_info", {}))  # benchmarks whose metrics are known only at run time
    return result, meta


def _check_results(chunk: list[Sample], results: list[Any], task: str) -> None:
    got = [r.sample_id for r in results]
    if sorted(got) != sorted(s.id for s in chunk):
        raise RuntimeError(f"task {task!r}: evaluate() returned results for {got[:5]}... instead of the batch's samples")


def _config_dict(cfg: RunConfig) -> dict[str, Any]:
    d = asdict(cfg)
    return {k: (str(v) if isinstance(v, Path) else [str(x) for x in v] if k == "include_paths" else v) for k, v in d.items()}
