"""Build one table per benchmark: rows are models, columns are (task, metric) pairs.

Metric names and directions come from the benchmark's registration by its plugin
(:class:`harness.registry.MetricSpec`); when that plugin is not installed, from the results
file's own ``tasks.<task>.metrics``; failing both, the raw metric name with no direction.
A benchmark with several tasks also gets a "mean over tasks" column per metric, filled only
for rows that have that metric for every one of the tasks (a partial mean would mislead).

Per-setting variants, ``<setting>/<metric>`` where ``<metric>`` is itself a metric of the
benchmark (``das/cause``, ``greedy/mc1``), and metrics nobody declared are kept out of the
main table, in a "more metrics" table, so the main table stays readable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Iterable

from harness.leaderboard.collect import Entry
from harness.registry import MetricSpec


@dataclass(frozen=True)
class MetricInfo:
    name: str
    label: str
    higher_is_better: bool | None  # None: unknown direction (no "best" marking)
    source: str  # "plugin", "results file", "suffix" (``setting/metric`` of a known metric) or "name only"
    description: str = ""
    variant_of: str = ""  # "mc1" for "greedy/mc1": a per-setting (per-method) variant of a benchmark metric

    @property
    def headline(self) -> bool:
        """Declared metrics that are not per-setting variants lead the table; the rest go to "more metrics"."""
        return self.source in ("plugin", "results file") and not self.variant_of

    @property
    def arrow(self) -> str:
        return {True: "↑", False: "↓"}.get(self.higher_is_better, "")  # type: ignore[arg-type]

    @property
    def direction_text(self) -> str:
        return {True: "higher is better", False: "lower is better"}.get(self.higher_is_better, "direction unknown")  # type: ignore[arg-type]


@dataclass
class Column:
    key: str  # stable id: "<task>/<metric>" or "mean/<metric>"
    task: str | None  # None for a mean-over-tasks column
    metric: MetricInfo
    mean_of: tuple[str, ...] = ()  # the tasks a mean column averages
    headline: bool = True  # False: shown under "more metrics"

    @property
    def n_tasks(self) -> int:
        return len(self.mean_of) or 1

    @property
    def title(self) -> str:
        where = f"mean over {self.n_tasks} tasks" if self.task is None else self.task
        return f"{where} · {self.metric.label}"


@dataclass
class Cell:
    value: float | None
    stderr: float | None = None
    n_samples: int | None = None
    run_id: str = ""
    created: str = ""
    file: str = ""
    limit: int | None = None  # the run evaluated at most this many samples per task


@dataclass
class Row:
    label: str
    model: str
    cells: dict[str, Cell] = field(default_factory=dict)


@dataclass
class BenchmarkTable:
    name: str
    plugin: str
    description: str
    columns: list[Column]
    rows: list[Row]
    metric_source: str
    notes: list[str] = field(default_factory=list)

    @property
    def headline_columns(self) -> list[Column]:
        return [c for c in self.columns if c.headline]

    @property
    def extra_columns(self) -> list[Column]:
        return [c for c in self.columns if not c.headline]

    def best(self, column: Column) -> float | None:
        """The best value in ``column`` (``None`` when the direction is unknown or < 2 values)."""
        cells = [r.cells[column.key].value for r in self.rows if column.key in r.cells]
        values = [v for v in cells if v is not None]
        if column.metric.higher_is_better is None or len(values) < 2:
            return None
        return max(values) if column.metric.higher_is_better else min(values)


def metric_infos(benchmark: str, entries: list[Entry], registered: dict[str, Any]) -> dict[str, MetricInfo]:
    """Name → :class:`MetricInfo` for every metric of ``benchmark``, in registration order."""
    infos: dict[str, MetricInfo] = {}
    spec = registered.get(benchmark)
    for m in getattr(spec, "metrics", ()) or ():
        if isinstance(m, MetricSpec):
            infos[m.name] = MetricInfo(m.name, m.label, bool(m.higher_is_better), "plugin", m.description)
    for entry in entries:
        declared = entry.meta.get("metrics")
        for name in entry.metrics:
            if name in infos:
                continue
            own = declared.get(name) if isinstance(declared, dict) else None
            if isinstance(own, dict):  # the results file's own record of the registration
                hib = own.get("higher_is_better")
                label, description = own.get("display_name"), own.get("description")
                infos[name] = MetricInfo(
                    name,
                    label if isinstance(label, str) and label else name,
                    hib if isinstance(hib, bool) else None,
                    "results file",
                    description if isinstance(description, str) else "",
                )
    for name, info in list(infos.items()):
        base = name.rpartition("/")[2]
        if base != name and base in infos:
            infos[name] = replace(info, variant_of=base)
    for entry in entries:
        for name in entry.metrics:
            if name not in infos:
                infos[name] = _derived_info(name, infos)
    return infos


def _derived_info(name: str, infos: dict[str, MetricInfo]) -> MetricInfo:
    """``"<setting>/<metric>"`` of a known metric keeps its direction (e.g. ``greedy/mc1``)."""
    prefix, _, base = name.rpartition("/")
    known = infos.get(base)
    if prefix and known is not None and known.headline:
        return MetricInfo(name, f"{known.label} · {prefix}", known.higher_is_better, "suffix", known.description, variant_of=base)
    return MetricInfo(name, name, None, "name only")


def build_tables(entries: list[Entry], registered: dict[str, Any]) -> list[BenchmarkTable]:
    by_benchmark: dict[str, list[Entry]] = {}
    for entry in entries:
        by_benchmark.setdefault(entry.benchmark, []).append(entry)
    return [_build_table(name, by_benchmark[name], registered) for name in sorted(by_benchmark)]


def _build_table(benchmark: str, entries: list[Entry], registered: dict[str, Any]) -> BenchmarkTable:
    infos = metric_infos(benchmark, entries, registered)
    order = list(infos)
    tasks = sorted({e.task for e in entries})
    task_metrics = {t: _ordered({m for e in entries if e.task == t for m in e.metrics}, order) for t in tasks}

    columns: list[Column] = []
    if len(tasks) > 1:
        for metric in (m for m in order if infos[m].headline):
            having = [t for t in tasks if metric in task_metrics[t]]
            if len(having) > 1:
                columns.append(Column(f"mean/{metric}", None, infos[metric], mean_of=tuple(having)))
    any_headline = any(i.headline for i in infos.values())
    for task in tasks:
        columns.extend(Column(f"{task}/{m}", task, infos[m], headline=infos[m].headline or not any_headline) for m in task_metrics[task])
    columns.sort(key=lambda c: not c.headline)  # stable: headline columns first, each group in order

    rows: dict[str, Row] = {}
    for e in sorted(entries, key=lambda e: e.row):
        row = rows.setdefault(e.row, Row(e.row, e.model))
        n = e.meta.get("n_samples")
        for metric, value in e.metrics.items():
            row.cells[f"{e.task}/{metric}"] = Cell(
                value=value,
                stderr=e.stderr.get(metric),
                n_samples=n if isinstance(n, int) and not isinstance(n, bool) else None,
                run_id=e.run.run_id,
                created=e.run.created_text,
                file=e.run.relpath,
                limit=e.run.limit,
            )
    for col in columns:
        if col.task is None:
            for row in rows.values():
                row.cells[col.key] = _mean_cell(row, col)

    spec = registered.get(benchmark)
    plugin = getattr(spec, "plugin", "") or _first_text(e.meta.get("plugin") for e in entries)
    description = getattr(spec, "description", "") or _first_text(e.meta.get("description") for e in entries)
    sources = sorted({i.source for i in infos.values() if i.headline}) or ["metric names only"]
    table = BenchmarkTable(benchmark, plugin, description, columns, list(rows.values()), ", ".join(sources))
    if spec is None:
        table.notes.append(
            f"No installed plugin registers the benchmark {benchmark!r}; metric names and directions come from the results files."
        )
    table.rows = _default_order(table)
    return table


def _mean_cell(row: Row, col: Column) -> Cell:
    values = [row.cells.get(f"{task}/{col.metric.name}", Cell(None)).value for task in col.mean_of]
    if any(v is None for v in values):
        return Cell(None)
    return Cell(math.fsum(values) / len(values))  # type: ignore[arg-type]


def _default_order(table: BenchmarkTable) -> list[Row]:
    """Best first on the first column with a known direction (missing values last), then by name."""
    col = next((c for c in table.headline_columns if c.metric.higher_is_better is not None), None)
    if col is None:
        return sorted(table.rows, key=lambda r: r.label)
    sign = -1.0 if col.metric.higher_is_better else 1.0

    def key(row: Row) -> tuple[int, float, str]:
        value = row.cells.get(col.key, Cell(None)).value
        return (1, 0.0, row.label) if value is None else (0, sign * value, row.label)

    return sorted(table.rows, key=key)


def _ordered(names: Iterable[str], order: list[str]) -> list[str]:
    rank = {n: i for i, n in enumerate(order)}
    return sorted(names, key=lambda n: (rank.get(n, len(rank)), n))


def _first_text(values: Iterable[Any]) -> str:
    return next((v for v in values if isinstance(v, str) and v), "")


def format_number(value: float | None) -> str:
    """Short, stable text for a metric value (``—`` for missing)."""
    if value is None:
        return "—"
    if value == 0:
        return "0"
    if abs(value) >= 1000 or abs(value) < 1e-3:
        return f"{value:.3g}"
    return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"
