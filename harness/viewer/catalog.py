"""Find the runs under a results folder and what each task of each run logged.

Every ``results_*.json`` at any depth is a run (read and checked by the leaderboard's reader,
so both tools accept the same files); a file that cannot be read is listed as a problem,
never an exception. A task's sample log is the ``samples_file`` its results file names,
next to it; older files without that field get the newest ``samples_<task>_*.jsonl`` there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.leaderboard.collect import Problem, ResultsFormatError, RunFile, find_results_files, read_results_file
from harness.textio import compressed_twin
from harness.viewer.provenance import Provenance, provenance_of


@dataclass
class TaskEntry:
    """One task of one run: its metrics, where its samples are, and how many failed."""

    name: str
    index: int  # position in the run (data file names use it: task names may hold any character)
    benchmark: str
    plugin: str
    description: str
    metrics: dict[str, float | None]
    stderr: dict[str, float | None]
    metric_info: dict[str, Any]
    args: Any
    n_samples: int | None
    n_failed: int | None  # None: this results file does not say
    failed_samples: dict[str, str]
    wall_seconds: float | None
    samples_path: Path | None
    samples_found_by: str  # "results file", "file name" or "" (no log)
    error: str = ""

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name, "index": self.index, "benchmark": self.benchmark, "plugin": self.plugin,
            "n_samples": self.n_samples, "n_failed": self.n_failed, "error": self.error,
            "has_samples": self.samples_path is not None, "metrics": self.metrics, "stderr": self.stderr,
        }


@dataclass
class Run:
    key: str  # the run id, made unique within the folder
    file: RunFile
    doc: dict[str, Any]
    provenance: Provenance
    tasks: list[TaskEntry]

    def task(self, name: str) -> TaskEntry | None:
        return next((t for t in self.tasks if t.name == name), None)

    def summary(self) -> dict[str, Any]:
        return {
            "key": self.key, "run_id": self.file.run_id, "model": self.file.model, "created": self.file.created_text,
            "file": self.file.relpath, "limit": self.provenance.limit, "limited": self.provenance.limited,
            "tasks": [t.summary() for t in self.tasks],
        }


@dataclass
class Catalog:
    root: Path
    runs: list[Run] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def run(self, key: str) -> Run | None:
        return next((r for r in self.runs if r.key == key), None)


def scan(root: Path) -> Catalog:
    """Every readable run under ``root``, newest first."""
    root = Path(root)
    catalog = Catalog(root=root)
    seen: set[str] = set()
    for path in find_results_files(root):
        problems: list[Problem] = []
        try:
            run_file = read_results_file(path, root, problems)
            doc = json.loads(path.read_text(encoding="utf-8"))
        except ResultsFormatError as err:
            problems.append(Problem(path, str(err)))
            catalog.problems.extend(problems)
            continue
        catalog.problems.extend(problems)
        key = run_file.run_id
        n = 2
        while key in seen:  # two files claiming one run id stay two runs
            key, n = f"{run_file.run_id}-{n}", n + 1
        seen.add(key)
        catalog.runs.append(Run(key, run_file, doc, provenance_of(doc, run_file), _tasks(run_file, doc)))
    catalog.runs.sort(key=lambda r: r.file.sort_key(), reverse=True)
    return catalog


def _tasks(run_file: RunFile, doc: dict[str, Any]) -> list[TaskEntry]:
    names = list(run_file.results) + [t for t in run_file.errors if t not in run_file.results]
    tasks_doc = run_file.tasks
    entries = []
    for i, name in enumerate(names):
        meta = tasks_doc.get(name) or {}
        path, how = _samples_path(run_file.path.parent, name, meta.get("samples_file", _UNNAMED))
        failed = meta.get("failed_samples")
        entries.append(TaskEntry(
            name=name,
            index=i,
            benchmark=run_file.benchmark_of(name),
            plugin=str(meta.get("plugin") or ""),
            description=str(meta.get("description") or ""),
            metrics=run_file.results.get(name, {}),
            stderr=run_file.stderr.get(name, {}),
            metric_info=meta["metrics"] if isinstance(meta.get("metrics"), dict) else {},
            args=meta.get("args"),
            n_samples=_int(meta.get("n_samples")),
            n_failed=_int(meta.get("n_failed")),
            failed_samples={str(k): str(v) for k, v in failed.items()} if isinstance(failed, dict) else {},
            wall_seconds=meta.get("wall_seconds") if isinstance(meta.get("wall_seconds"), (int, float)) else None,
            samples_path=path,
            samples_found_by=how,
            error=run_file.errors.get(name, ""),
        ))
    return entries


_UNNAMED = object()  # the results file has no samples_file field (None there means: no log kept)


def _samples_path(folder: Path, task: str, named: Any) -> tuple[Path | None, str]:
    if isinstance(named, str) and named and "/" not in named and "\\" not in named and not named.startswith("."):
        path = compressed_twin(folder / named)
        if path is not None:
            return path, "results file"
    if named is _UNNAMED:  # older results files do not name their log: the newest one for this task
        candidates = [p for pattern in ("jsonl", "jsonl.gz") for p in folder.glob(f"samples_{task}_*.{pattern}") if p.is_file()]
        candidates = [p for p in candidates if p.name[len(f"samples_{task}_"):].split(".")[0].isalnum()]
        if candidates:
            return max(candidates, key=lambda p: (p.stat().st_mtime_ns, p.name)), "file name"
    return None, ""


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
