"""Run tasks on a model: per-sample logs flushed per batch, resume, lifecycle hooks, results."""

from __future__ import annotations

import contextlib
import logging
import time
import traceback
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from tqdm.auto import tqdm

from harness.benchmark import Benchmark, TaskContext, TaskResult
from harness.distributed import current as current_dist
from harness.effective import effective_config
from harness.interrupt import RunInterrupted, deferred_interrupt
from harness.isolation import describe, evaluate_isolated
from harness.outdir import OutputLock, OutputPathError, check_output_dir, inside
from harness.pluginmanager import PluginManager
from harness.progress import Heartbeat, activity, current_activity
from harness.results import (
    SCHEMA_VERSION, RunInfo, SampleLog, environment_info, failed_record, json_safe, record_to_result, sample_record, slug,
    stable_hash, write_json_atomic,
)
from harness.resume import ReuseCheck, reusable
from harness.tasks import TaskConfig, TaskConfigError, TaskIndex, instantiate

# Part of the runner's API (harness.load_model, the lm-eval bridge and tests import them from here).
from harness.model_loading import check_cache_file, load_model, load_model_with_args  # noqa: F401

log = logging.getLogger("harness")
NO_MODEL = "no-model"  # the results folder of runs whose tasks need no model
MAX_LISTED = 100  # failed sample ids kept in the results file


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
    threads: int | str | None = None  # torch CPU threads: N, or "auto" (default: the cores not already busy)
    plugins: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    progress: bool = True
    report: Callable[[str], Any] | None = field(default=None, repr=False, compare=False)  # start/notes lines (CLI: stderr)


@dataclass
class PlannedTask:
    config: TaskConfig
    benchmark: Benchmark | None
    spec: Any
    error: str = ""  # the benchmark's implementation could not be imported: only this task fails


def plan(cfg: RunConfig, pm: PluginManager) -> list[PlannedTask]:
    """Resolve tasks and build their benchmarks before any model is loaded (fail fast)."""
    registry = pm.registry()
    index = TaskIndex.scan([*pm.task_paths(), *cfg.include_paths], required=cfg.include_paths)
    for note in index.notes:
        _say(cfg, f"harness: note: {note}")
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
        try:
            implementation = spec.load()
        except Exception as err:  # noqa: BLE001 - an unimportable implementation fails only its tasks
            msg = f"benchmark {tc.benchmark!r} of plugin {spec.plugin!r} cannot be imported: {describe(err)}"
            log.error("task %s: %s", tc.name, msg)
            planned.append(PlannedTask(tc, None, spec, error=msg))
            continue
        planned.append(PlannedTask(tc, instantiate(tc, implementation), spec))
    return planned


def check_config(cfg: RunConfig) -> None:
    """Refuse values that would silently do something else (before any task or model loads)."""
    if not cfg.tasks:
        raise RunError("--tasks is empty: name at least one task, suite or tag (`harness list` shows them)")
    if cfg.limit is not None and (isinstance(cfg.limit, bool) or not isinstance(cfg.limit, int) or cfg.limit < 1):
        raise RunError(f"--limit {cfg.limit!r}: expected a positive number of samples per task")
    if cfg.batch_size is not None:
        from harness.models.args import ModelArgError, positive_int

        try:
            cfg.batch_size = positive_int("batch_size", cfg.batch_size, allow_auto=True)
        except ModelArgError as err:
            raise RunError(str(err).replace("--model-args batch_size=", "--batch-size ")) from None
    if cfg.threads is not None:
        from harness.threads import parse_setting

        try:
            cfg.threads = parse_setting(cfg.threads)
        except ValueError as err:
            raise RunError(str(err)) from None
    for flag, on in (("--resume", cfg.resume), ("--log-samples", cfg.log_samples)):
        if on and cfg.output_path is None:
            raise RunError(f"{flag} needs an output folder (--output-path DIR); without one nothing would be saved")


class InputDataError(ValueError):
    """A task's data could not be read or is malformed (the message names the file and line);
    the run exits 2 when every failure is one of these, as for any other bad input."""


def run(cfg: RunConfig, pm: PluginManager | None = None, adapter: Any = None) -> dict[str, Any]:
    """Evaluate ``cfg.tasks``; returns the results document (also written under ``output_path``)."""
    pm = pm or PluginManager().load(cfg.plugins, cfg.blocked)
    pm.registry()  # name clashes are found here, so they are reported below
    for info in pm.failures():
        log.warning("plugin %s failed to load: %s", info.name, info.error)
    check_config(cfg)
    planned = plan(cfg, pm)
    dist = current_dist()
    root = None
    if cfg.output_path is not None:
        try:
            root = check_output_dir(Path(cfg.output_path))
        except OutputPathError as err:
            raise RunError(str(err)) from None
    try:
        with OutputLock(root) if root is not None and dist.main else contextlib.nullcontext():
            return _run_locked(cfg, pm, adapter, planned, root)
    except OutputPathError as err:
        raise RunError(str(err)) from None


def _say(cfg: RunConfig, text: str) -> None:
    (cfg.report or log.info)(text)


def _run_locked(cfg: RunConfig, pm: PluginManager, adapter: Any, planned: list[PlannedTask], root: Path | None) -> dict[str, Any]:
    needs_model = any(p.benchmark is not None and p.benchmark.needs_model for p in planned)
    label = str(cfg.model_args.get("pretrained", cfg.model)) if needs_model or adapter is not None else NO_MODEL
    _say(cfg, f"harness: model {label}; tasks {', '.join(p.config.name for p in planned)}; output {root or '(none)'}")
    typed_args = dict(cfg.model_args)
    from harness import threads

    load_before = threads.loadavg()
    if adapter is None and needs_model:
        adapter, typed_args = load_model_with_args(cfg, pm)  # the hf adapter checks and applies its own threads= argument
    try:  # --threads wins over the model argument threads=
        threads.configure(cfg.threads if cfg.threads is not None else cfg.model_args.get("threads", threads.AUTO))
    except ValueError as err:
        raise RunError(f"--model-args {err}") from None
    if adapter is not None and hasattr(adapter, "use_decoders"):  # a ModelAdapter: `decoding=NAME` finds the registered strategies
        adapter.use_decoders(pm.registry().decoders)
    fingerprint = adapter.fingerprint() if adapter is not None else ""
    model_name = (getattr(adapter, "name", None) or label) if adapter is not None else NO_MODEL
    out_dir = inside(root, slug(model_name)) if root is not None else None
    started = datetime.now(timezone.utc)
    run_info = RunInfo(run_id=stable_hash([fingerprint, [p.config.name for p in planned], started.isoformat()]),
                       output_dir=out_dir, model_name=model_name, model_args=json_safe(typed_args),
                       tasks=[p.config.name for p in planned], config=_config_dict(cfg), fingerprint=fingerprint)
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION, "run_id": run_info.run_id, "created": started.isoformat(timespec="seconds"),
        "model": {"name": model_name, "adapter": cfg.model if needs_model else NO_MODEL, "args": json_safe(typed_args),
                  "fingerprint": fingerprint},
        "config": run_info.config, "effective_config": None,
        "environment": {**environment_info(), **threads.machine(), "loadavg_before": load_before},
        "results": {}, "stderr": {}, "tasks": {}, "details": {}, "errors": {}, "wall_seconds": None,
    }
    dist = current_dist()
    run_info.run_id = dist.broadcast(run_info.run_id)
    doc["run_id"] = run_info.run_id
    results_path = out_dir / f"results_{started.strftime('%Y%m%dT%H%M%S')}_{run_info.run_id[:6]}.json" if out_dir and dist.main else None
    if dist.world > 1:
        doc["config"]["world_size"] = dist.world
    pm.call("harness_run_start", run=run_info)
    t0 = time.time()
    state: dict[str, Any] = {}
    try:
        for p in planned:
            _run_one(p, cfg, adapter, run_info, pm, out_dir, doc, results_path, state)
    except KeyboardInterrupt:
        raise RunInterrupted(_saved(doc, results_path, state)) from None
    doc["wall_seconds"] = round(time.time() - t0, 3)
    doc["effective_config"] = effective_config(adapter, doc["config"], pm)
    doc["environment"]["loadavg_after"] = threads.loadavg()
    if not dist.main:
        doc["rank"] = dist.rank
        return doc
    if results_path:
        with deferred_interrupt():
            write_json_atomic(results_path, doc)
        doc["results_path"] = str(results_path)
    pm.call("harness_run_end", run=run_info, results=doc)
    return doc


def _run_one(p: PlannedTask, cfg: RunConfig, adapter: Any, run_info: RunInfo, pm: PluginManager, out_dir: Path | None,
             doc: dict[str, Any], results_path: Path | None, state: dict[str, Any]) -> None:
    name = p.config.name
    if p.error:
        doc["errors"][name] = p.error
        return
    try:
        result, meta = _run_task(p, cfg, adapter, run_info, pm, out_dir, state)
        if result is None:  # a non-zero rank: rank 0 aggregates and writes
            return
    except KeyboardInterrupt:
        raise
    except Exception as err:  # noqa: BLE001 - one task failing must not lose the others
        log.error("task %s failed: %s", name, err)
        doc["errors"][name] = "".join(traceback.format_exception_only(type(err), err)).strip()
        if isinstance(err, InputDataError):
            doc.setdefault("input_errors", []).append(name)
        log.debug("%s", traceback.format_exc())
        return
    doc["results"][name] = result.metrics
    doc["stderr"][name] = result.stderr
    doc["details"][name] = result.details
    doc["tasks"][name] = meta
    state["finished"] = state.get("finished", 0) + 1
    if results_path:
        with deferred_interrupt():
            _write(results_path, doc, adapter, pm)  # finished tasks survive a later crash


def _saved(doc: dict[str, Any], results_path: Path | None, state: dict[str, Any]) -> str:
    parts = []
    if doc["results"] and results_path:
        parts.append(f"{len(doc['results'])} finished task(s) in {results_path}")
    if state.get("log"):
        parts.append(f"{state['n_logged']} sample(s) of task {state['task']} in {state['log']}")
    return "; ".join(parts) or "nothing was saved yet"


def _run_task(p: PlannedTask, cfg: RunConfig, adapter: Any, run_info: RunInfo, pm: PluginManager, out_dir: Path | None,
              state: dict[str, Any]) -> tuple[TaskResult | None, dict]:
    name, bench = p.config.name, p.benchmark
    assert bench is not None, p.error  # only a task whose benchmark was built is run
    cache_dir = None
    if adapter is not None:
        from harness.models.embedded import cache_root

        cache_dir = cache_root() / "instances" / run_info.fingerprint[:16]
    if bench.needs_model:
        from harness.whitebox.capabilities import check as check_requires

        check_requires(name, bench.requires, adapter)  # before any data is loaded
    ctx = TaskContext(task=name, seed=cfg.seed, limit=cfg.limit, cache_dir=cache_dir, registry=pm.registry())
    from harness import threads

    chosen = threads.apply()  # re-checked per task (and between batches): other processes may have started or stopped
    thread_changes: list[dict[str, Any]] = []
    t0, cpu0 = time.time(), time.process_time()
    try:
        samples = list(bench.samples(adapter if bench.needs_model else None, ctx))
    except (ValueError, OSError) as err:  # the readers name the file and line of what is wrong
        raise InputDataError(f"{type(err).__name__}: {err}") from err
    if cfg.limit is not None:
        samples = samples[: cfg.limit]
    ids = [s.id for s in samples]
    if len(set(ids)) != len(ids):
        raise RuntimeError(f"benchmark {p.config.benchmark!r} produced duplicate sample ids in task {name!r}")
    key = stable_hash({"task": name, "benchmark": p.config.benchmark, "args": p.config.args, "limit": cfg.limit,
                       "seed": cfg.seed, "model": run_info.fingerprint})
    dist = current_dist()
    by_id = {s.id: s for s in samples}
    done: dict[str, dict[str, Any]] = {}
    sample_log, check = None, ReuseCheck()
    if out_dir is not None and (cfg.log_samples or cfg.resume) and dist.main:
        meta: dict[str, Any] = {"task": name, "key": key, "benchmark": p.config.benchmark, "args": p.config.args,
                "limit": cfg.limit, "seed": cfg.seed, "model_fingerprint": run_info.fingerprint}
        sample_log = SampleLog(out_dir / f"samples_{slug(name)}_{key[:12]}.jsonl", meta, resume=cfg.resume, tag=run_info.run_id[:6])
        done, check = reusable(sample_log.done, by_id, key)
        if check.dropped:
            sample_log.keep(done.values())
        if check.message():
            _say(cfg, f"harness: task {name}: {check.message()}")
        state.update(task=name, log=sample_log.path, n_logged=len(done))
    pending_ids = dist.broadcast([s.id for s in samples if s.id not in done])  # rank 0 read the logs
    pending = [by_id[i] for i in pending_ids]
    n_done = len(samples) - len(pending)
    if dist.main:
        pm.call("harness_task_start", run=run_info, task=name, n_samples=len(samples), n_done=n_done)
    bar = tqdm(total=len(samples), initial=n_done, desc=name, disable=not cfg.progress or not dist.main, dynamic_ncols=True)
    fresh: dict[str, Any] = {}
    failed: dict[str, str] = {}
    model = adapter if bench.needs_model else None
    step = max(1, bench.samples_per_call) * dist.world
    for lo in range(0, len(pending), step):  # each round: every rank takes a strided share
        block = pending[lo : lo + step]
        mine = block[dist.rank :: dist.world]
        ctx.status = ""
        activity("")
        with Heartbeat(f"{name} (samples {block[0].id}..{block[-1].id})",
                       lambda: "; ".join(t for t in (ctx.status, current_activity()) if t), enabled=cfg.progress and dist.main):
            gathered = dist.gather(evaluate_isolated(bench, model, mine, ctx))
        if gathered is None:
            continue
        results = [r for rs, _ in gathered for r in rs]
        bad = {sid: err for _, errs in gathered for sid, err in errs.items()}
        if sample_log:
            records = [sample_record(r, by_id[r.sample_id].doc, by_id[r.sample_id].prompt, key) for r in results]
            records += [failed_record(sid, by_id[sid].doc, by_id[sid].prompt, err, key) for sid, err in bad.items()]
            with deferred_interrupt():
                sample_log.append(records)
            state["n_logged"] = state.get("n_logged", 0) + len(records)
        fresh.update({r.sample_id: r for r in results})
        failed.update(bad)
        n_done += len(block)
        bar.update(len(block))
        pm.call("harness_batch_end", run=run_info, task=name, n_done=n_done, n_samples=len(samples))
        changed = threads.recheck()  # auto: load that started or stopped during the task
        if changed is not None:
            thread_changes.append({"after_samples": n_done, "threads": changed.threads, "busy_cores": changed.busy_cores})
    bar.close()
    if sample_log:
        sample_log.close()
    if not dist.main:
        return None, {}
    ordered = [fresh[i] if i in fresh else record_to_result(done[i]) for i in ids if i not in failed]
    if not ordered:
        first = next(iter(failed.items()))
        raise RuntimeError(f"all {len(failed)} samples failed (first: {first[0]}: {first[1]})")
    result = bench.aggregate(ordered, ctx)
    result.n_samples = result.n_samples or len(ordered)
    pm.call("harness_task_end", run=run_info, task=name, result=result)
    meta = {
        "benchmark": p.config.benchmark, "plugin": p.spec.plugin, "description": p.config.description,
        "args": p.config.args, "n_samples": result.n_samples, "n_resumed": len(samples) - len(pending),
        "n_recomputed": check.stale, "n_failed": len(failed), "failed_samples": dict(list(failed.items())[:MAX_LISTED]),
        "wall_seconds": round(time.time() - t0, 3), "cpu_seconds": round(time.process_time() - cpu0, 3),
        "threads": chosen.threads, "busy_cores_at_start": chosen.busy_cores, "thread_changes": thread_changes,
        "samples_file": sample_log.path.name if sample_log else None,
        "metrics": {m.name: {"display_name": m.label, "higher_is_better": m.higher_is_better} for m in p.spec.metrics},
    }
    meta["metrics"].update(result.details.pop("metric_info", {}))  # benchmarks whose metrics are known only at run time
    return result, meta


def _write(path: Path, doc: dict[str, Any], adapter: Any, pm: PluginManager) -> None:
    """The results file, with the effective configuration as it stands now (``auto`` batch sizes
    resolve on first use, so it is refreshed at every write)."""
    doc["effective_config"] = effective_config(adapter, doc["config"], pm)
    write_json_atomic(path, doc)


def _config_dict(cfg: RunConfig) -> dict[str, Any]:
    d = asdict(cfg)
    d.pop("report", None)
    return {k: (str(v) if isinstance(v, Path) else [str(x) for x in v] if k == "include_paths" else v) for k, v in d.items()}
