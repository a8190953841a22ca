"""Find and read results files; choose which run each (model, task) cell shows.

Every ``results_*.json`` under the results folder is read (at any depth). A file that cannot
be read or does not follow the results format is reported as a :class:`Problem` naming the
file and what was wrong, and the others are used as usual. Smaller faults (one metric that
is not a number) drop just that value, again with a problem naming the field.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness.results import SCHEMA_VERSION

RESULTS_GLOB = "results_*.json"


@dataclass
class Problem:
    """Something wrong with one results file; ``skipped`` when the whole file was left out."""

    path: Path
    message: str
    skipped: bool = True

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" + ("" if self.skipped else " (value left out; rest of the file used)")


@dataclass
class RunFile:
    """One results document, checked and normalised."""

    path: Path
    relpath: str  # relative to the results folder, with forward slashes
    run_id: str
    created: datetime  # timezone-aware; falls back to the file's modification time
    created_text: str
    model: str
    model_info: dict[str, Any]
    results: dict[str, dict[str, float | None]]
    stderr: dict[str, dict[str, float | None]]
    tasks: dict[str, dict[str, Any]]
    details: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)  # task -> why it failed in this run
    limit: int | None = None  # --limit of the run (samples per task); None: a full run, or not recorded

    def benchmark_of(self, task: str) -> str:
        meta = self.tasks.get(task) or {}
        name = meta.get("benchmark")
        return name if isinstance(name, str) and name else task

    def sort_key(self) -> tuple[datetime, str]:
        return (self.created, self.relpath)


@dataclass
class Entry:
    """The result of one task for one leaderboard row."""

    row: str  # the row label: the model name, or "model @ run_id" with --all-runs
    model: str
    task: str
    benchmark: str
    run: RunFile

    @property
    def metrics(self) -> dict[str, float | None]:
        return self.run.results.get(self.task, {})

    @property
    def stderr(self) -> dict[str, float | None]:
        return self.run.stderr.get(self.task, {})

    @property
    def meta(self) -> dict[str, Any]:
        return self.run.tasks.get(self.task) or {}

    @property
    def details(self) -> Any:
        return self.run.details.get(self.task)


@dataclass
class Collection:
    runs: list[RunFile] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    n_files: int = 0


def find_results_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob(RESULTS_GLOB) if p.is_file())


def collect(root: Path) -> Collection:
    """Read every results file under ``root``; bad files become problems, never exceptions."""
    found = Collection()
    for path in find_results_files(root):
        found.n_files += 1
        problems: list[Problem] = []
        try:
            run = read_results_file(path, root, problems)
        except ResultsFormatError as err:
            problems.append(Problem(path, str(err)))
            run = None
        found.problems.extend(problems)
        if run is not None:
            found.runs.append(run)
    return found


class ResultsFormatError(ValueError):
    """The file is not a results document this leaderboard can read."""


def read_results_file(path: Path, root: Path, problems: list[Problem]) -> RunFile:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ResultsFormatError(f"cannot be read ({type(err).__name__}: {err})") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise ResultsFormatError(f"is not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})") from None
    if not isinstance(doc, dict):
        raise ResultsFormatError(f"expected a JSON object at the top level, got {type(doc).__name__}")
    version = doc.get("schema_version", SCHEMA_VERSION)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise ResultsFormatError(f"schema_version {version!r} is not one this harness reads (<= {SCHEMA_VERSION})")

    model_info = doc.get("model")
    if not isinstance(model_info, dict) or not isinstance(model_info.get("name"), str) or not model_info["name"].strip():
        raise ResultsFormatError("field 'model.name': expected a non-empty string")
    results = doc.get("results")
    if not isinstance(results, dict) or not all(isinstance(v, dict) for v in results.values()):
        raise ResultsFormatError("field 'results': expected an object {task: {metric: number}}")

    created, created_text = _created(doc.get("created"), path)
    tasks, details, stderr_doc = _object(doc, "tasks"), _object(doc, "details"), _object(doc, "stderr")
    return RunFile(
        path=path,
        relpath=path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path),
        run_id=str(doc.get("run_id") or path.stem),
        created=created,
        created_text=created_text,
        model=model_info["name"].strip(),
        model_info=model_info,
        results={str(t): _numbers(m, path, f"results.{t}", problems) for t, m in results.items()},
        stderr={str(t): _numbers(m, path, f"stderr.{t}", problems) for t, m in stderr_doc.items() if isinstance(m, dict)},
        tasks={str(t): m for t, m in tasks.items() if isinstance(m, dict)},
        details={str(t): d for t, d in details.items()},
        errors={str(t): str(e) for t, e in doc["errors"].items()} if isinstance(doc.get("errors"), dict) else {},
        limit=_limit(doc.get("config")),
    )


def _object(doc: dict[str, Any], key: str) -> dict[Any, Any]:
    """``doc[key]`` when it is a JSON object, else an empty one (an optional section)."""
    value = doc.get(key)
    return value if isinstance(value, dict) else {}


def _limit(config: Any) -> int | None:
    limit = config.get("limit") if isinstance(config, dict) else None
    return limit if isinstance(limit, int) and not isinstance(limit, bool) else None


def _numbers(metrics: dict[str, Any], path: Path, where: str, problems: list[Problem]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for name, value in metrics.items():
        if value is None:
            out[str(name)] = None
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[str(name)] = float(value) if math.isfinite(value) else None
        else:
            problems.append(Problem(path, f"field '{where}.{name}': expected a number or null, got {value!r:.60}", skipped=False))
    return out


def _created(value: Any, path: Path) -> tuple[datetime, str]:
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            return when, value
        except ValueError:
            pass
    when = datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc)
    return when, when.strftime("%Y-%m-%dT%H:%M:%SZ")


def select_entries(runs: list[RunFile], all_runs: bool = False) -> list[Entry]:
    """The newest run per (model, task); with ``all_runs`` every run becomes its own row."""
    entries: list[Entry] = []
    ordered = sorted(runs, key=RunFile.sort_key)
    rows_needing_run = _models_with_several_runs(ordered) if all_runs else set()
    if all_runs:
        for run in ordered:
            row = f"{run.model} @ {run.run_id}" if run.model in rows_needing_run else run.model
            entries.extend(Entry(row, run.model, t, run.benchmark_of(t), run) for t in run.results)
        return entries
    newest: dict[tuple[str, str], RunFile] = {}
    for run in ordered:  # later (newer) runs overwrite earlier ones
        for task in run.results:
            newest[(run.model, task)] = run
    for (model, task), run in newest.items():
        entries.append(Entry(model, model, task, run.benchmark_of(task), run))
    return entries


def failure_notes(runs: list[RunFile], entries: list[Entry], all_runs: bool = False) -> list[str]:
    """Tasks that failed in a model's newest run (in every run with ``all_runs``), saying what is shown instead."""
    shown = {(e.model, e.task): e.run for e in entries}
    newest: dict[str, RunFile] = {}
    for run in sorted(runs, key=RunFile.sort_key):
        newest[run.model] = run
    notes = []
    for run in sorted(runs, key=RunFile.sort_key):
        if not all_runs and newest[run.model] is not run:
            continue
        for task, error in sorted(run.errors.items()):
            first = error.strip().splitlines()[-1] if error.strip() else "no message"
            other = shown.get((run.model, task))
            instead = f"; the table shows its run {other.run_id} of {other.created_text}" if other is not None and other is not run else ""
            notes.append(f"{run.model}: task {task} failed in run {run.run_id} ({run.created_text}, {run.relpath}): {first}{instead}.")
    return notes


def _models_with_several_runs(runs: list[RunFile]) -> set[str]:
    seen: dict[str, int] = {}
    for run in runs:
        seen[run.model] = seen.get(run.model, 0) + 1
    return {m for m, n in seen.items() if n > 1}
