"""lm-eval tasks inside our runner: ``harness run --tasks lm_eval:<task>``.

Task YAML folders of your own come with ``--include-path DIR``, a global option written before
or after the sub-command: ``harness --include-path DIR run --tasks lm_eval:<task>`` or
``harness run --tasks lm_eval:<task> --include-path DIR``.

Requests are built by lm-eval's own task code and answered by our adapter; per-document metrics
come from the task's ``process_results`` and are aggregated with the task's own aggregation and
standard-error functions, so the numbers are lm-eval's definitions, recorded like our own tasks.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Sequence

from harness.benchmark import Benchmark, Sample, SampleResult, TaskContext, TaskResult
from harness.whitebox.capabilities import Capability


class LmEvalTask(Benchmark):
    requires = frozenset({Capability.SCORING, Capability.GENERATION})
    samples_per_call = 64

    def __init__(self, task: str, include_path: list[str] | str | None = None, num_fewshot: int | None = None,
                 bootstrap_iters: int = 100000):
        self.task_name, self.num_fewshot, self.bootstrap_iters = task, num_fewshot, bootstrap_iters
        self.include_path = [include_path] if isinstance(include_path, str) else list(include_path or [])
        self._task: Any = None
        self._instances: dict[int, list[Any]] = {}

    def _task_dict(self) -> dict[str, Any]:
        """The task from lm-eval. The include paths are tried first, on their own: indexing
        lm-eval's thousands of built-in task files takes tens of seconds. A local task that
        needs a built-in one (``include:`` of a shipped template) falls back to the full index."""
        from lm_eval.tasks import TaskManager, get_task_dict

        if self.include_path:
            local = TaskManager(include_path=self.include_path, include_defaults=False)
            if self.task_name in local.all_tasks:
                try:
                    return get_task_dict([self.task_name], local)
                except Exception:  # noqa: BLE001 - retried below with lm-eval's own tasks indexed
                    pass
        return get_task_dict([self.task_name], TaskManager(include_path=self.include_path or None))

    def _load(self) -> Any:
        tasks = self._task_dict()
        if len(tasks) != 1:
            raise ValueError(f"lm_eval:{self.task_name} is a group of {len(tasks)} tasks; name its tasks one by one")
        task = next(iter(tasks.values()))
        if self.num_fewshot is not None:
            task.set_config(key="num_fewshot", value=self.num_fewshot)
        return task

    def samples(self, model: Any, ctx: TaskContext) -> Sequence[Sample]:
        self._task = task = self._load()
        task.build_all_requests(limit=ctx.limit, rank=0, world_size=1)
        by_doc: dict[int, list[Any]] = defaultdict(list)
        for inst in task.instances:
            by_doc[inst.doc_id].append(inst)
        self._instances = {d: sorted(v, key=lambda i: i.idx) for d, v in by_doc.items()}
        out = []
        for doc_id, insts in sorted(self._instances.items()):
            out.append(Sample(id=f"doc{doc_id}", doc=_plain(insts[0].doc), prompt=str(insts[0].args[0])))
        return out

    def evaluate(self, model: Any, samples: Sequence[Sample], ctx: TaskContext) -> list[SampleResult]:
        from harness.lmeval.model import HarnessLM

        lm = HarnessLM(adapter=model)
        insts = [i for s in samples for i in self._instances[int(s.id[3:])]]
        by_type: dict[str, list[Any]] = defaultdict(list)
        for inst in insts:
            inst.resps = []
            by_type[inst.request_type].append(inst)
        for req_type, group in by_type.items():
            for inst, resp in zip(group, getattr(lm, req_type)(group)):
                inst.resps.append(resp)
        for f in self._task._filters:
            f.apply(insts)
        results = []
        for s in samples:
            mine = self._instances[int(s.id[3:])]
            values: dict[str, Any] = {}
            for key in mine[0].filtered_resps:
                metrics = self._task.process_results(mine[0].doc, [i.filtered_resps[key] for i in mine])
                values.update({(m if key == "none" else f"{m},{key}"): _plain(v) for m, v in metrics.items()})
            results.append(SampleResult(s.id, values, log={"resps": _plain([i.resps for i in mine])}))
        return results

    def aggregate(self, results: Sequence[SampleResult], ctx: TaskContext) -> TaskResult:
        from lm_eval.api.metrics import stderr_for_metric

        task = self._task or self._load()
        aggregation, better = task.aggregation(), task.higher_is_better()
        metrics, stderr, info = {}, {}, {}
        for name in results[0].values if results else []:
            base = name.split(",")[0]
            fn = aggregation[base]
            items = [r.values[name] for r in results]
            metrics[name] = float(fn(items))
            se = stderr_for_metric(metric=fn, bootstrap_iters=min(self.bootstrap_iters, 100000))
            stderr[name] = float(se(items)) if se is not None and len(items) > 1 else float("nan")
            info[name] = {"display_name": name, "higher_is_better": bool(better.get(base, True))}
        return TaskResult(metrics=metrics, stderr=stderr, n_samples=len(results), details={"metric_info": info})


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "item"):
        return value.item()
    return str(value)
