"""The viewer's data files, one scheme for the server and the static bundle.

The page loads every piece of data as a script (``data/….js``) that hands a JSON value to
``HARNESS_VIEWER.put``: script tags work from ``file://``, where browsers refuse ``fetch``.
File names are made of numbers only (run ``i``, task ``t``, page ``p``), never of strings
from results files::

    data/index.js              runs, their provenance and tasks, problems
    data/run/<i>.js            one run: provenance, tasks with metric names
    data/s/<i>/<t>/<p>.js      page p of task t's samples (ids, values, raw records: lists, filters)
    data/r/<i>/<t>/<n>.js      record n of that log with its rendered view (the sample page)
    data/ids/<i>/<t>.js        the sample id of every record (from an id to its record)
    data/compare/<i>-<j>.js    run i (baseline) against run j
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness.viewer.catalog import Catalog, Run, TaskEntry
from harness.viewer.compare import compare
from harness.viewer.samples import SampleStore, file_size, ids_payload, page_payload, record_payload

_RUN = re.compile(r"data/run/(\d+)\.js")
_PAGE = re.compile(r"data/(s|r)/(\d+)/(\d+)/(\d+)\.js")
_IDS = re.compile(r"data/ids/(\d+)/(\d+)\.js")
_COMPARE = re.compile(r"data/compare/(\d+)-(\d+)\.js")


def script(name: str, value: Any) -> bytes:
    """``value`` as a script that registers it under ``name``; ``<`` is escaped so no string can end the script."""
    blob = json.dumps(value, ensure_ascii=True, allow_nan=False, default=str).replace("<", "\\u003c")
    return f"HARNESS_VIEWER.put({json.dumps(name)}, {blob});\n".encode("ascii")


class Site:
    def __init__(self, catalog: Catalog, pm: Any = None, bundle: bool = False):
        self.catalog = catalog
        self.pm = pm
        self.store = SampleStore()
        self.bundle = bundle
        self.compare_pairs: list[tuple[int, int]] | None = None  # None: any pair (the server computes on demand)

    def payload(self, name: str) -> Any:
        """The value of data file ``name``; ``KeyError`` when there is no such file."""
        if name == "data/index.js":
            return self.index()
        if m := _RUN.fullmatch(name):
            return self.run(self._run(int(m[1])), int(m[1]))
        if m := _PAGE.fullmatch(name):
            task, path = self._logged_task(name, int(m[2]), int(m[3]))
            try:
                if m[1] == "s":
                    return page_payload(self.store, path, int(m[4]))
                return record_payload(self.store, self.pm, path, task.benchmark, task.name, int(m[4]))
            except IndexError:
                raise KeyError(name) from None
        if m := _IDS.fullmatch(name):
            return ids_payload(self.store, self._logged_task(name, int(m[1]), int(m[2]))[1])
        if m := _COMPARE.fullmatch(name):
            i, j = int(m[1]), int(m[2])
            return compare(self.store, self._run(i), self._run(j))
        raise KeyError(name)

    def _logged_task(self, name: str, i: int, t: int) -> tuple[TaskEntry, Path]:
        run = self._run(i)
        path = run.tasks[t].samples_path if t < len(run.tasks) else None
        if path is None:
            raise KeyError(name)
        return run.tasks[t], path

    def _run(self, i: int) -> Run:
        if i >= len(self.catalog.runs):
            raise KeyError(f"run {i}")
        return self.catalog.runs[i]

    def index(self) -> dict[str, Any]:
        return {
            "generated": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "source": self.catalog.root.name or str(self.catalog.root),
            "mode": "bundle" if self.bundle else "server",
            "runs": [{**r.summary(), "provenance": r.provenance.to_json()} for r in self.catalog.runs],
            "problems": [{"file": _rel(self.catalog, p.path), "message": p.message} for p in self.catalog.problems],
            "compare_pairs": self.compare_pairs,
        }

    def run(self, run: Run, i: int) -> dict[str, Any]:
        tasks = []
        for t in run.tasks:
            tasks.append({
                **t.summary(), "description": t.description, "metric_info": t.metric_info, "args": t.args,
                "failed_samples": t.failed_samples, "wall_seconds": t.wall_seconds,
                "samples_file": _rel(self.catalog, t.samples_path) if t.samples_path else None,
                "samples_found_by": t.samples_found_by, "samples_bytes": file_size(t.samples_path),
                "failed_in_log": len(self.store.index(t.samples_path).failed) if t.samples_path else None,
            })
        return {**run.summary(), "i": i, "provenance": run.provenance.to_json(), "tasks": tasks,
                "run_errors": run.file.errors}


def _rel(catalog: Catalog, path: Any) -> str:
    try:
        return path.relative_to(catalog.root).as_posix()
    except ValueError:
        return path.name
