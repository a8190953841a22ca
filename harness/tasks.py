"""Task configs: YAML files that name a benchmark and its arguments.

A task file holds one mapping::

    task: causalgym_pronoun_mean        # unique name (defaults to the file's stem)
    benchmark: causalgym                # a registered benchmark
    description: He/she agreement, mean difference at site 2
    args: {tasks: [agr_pronoun], methods: [mean], layers: [2]}

A suite file groups tasks: ``suite: NAME`` and ``tasks: [a, b, c]``; a tag works as a suite
too (tasks tagged ``default`` form the default suite that ``harness run`` runs). Files are searched in
the built-in ``tasks/`` folder, in plugins' task paths and in every ``--include-path``;
a later folder overrides an earlier one's task of the same name (reported as a note), and a
name defined twice in one folder is refused. Files are read within the limits of
:mod:`harness.yamlsafe`; a bad file is reported and never breaks other tasks.
"""

from __future__ import annotations

import difflib
import inspect
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from harness.yamlsafe import YAMLLimitError, load_limited, read_limited

TASK_KEYS = {"task", "benchmark", "description", "args", "tags"}
SUITE_KEYS = {"suite", "tasks", "description"}


class TaskConfigError(ValueError):
    """A task or suite file is malformed; the message names the file, line and field."""


@dataclass
class TaskConfig:
    name: str
    benchmark: str
    description: str = ""
    args: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    path: Path | None = None
    lines: dict[str, int] = field(default_factory=dict)  # key -> 1-based line in ``path``

    def where(self, key: str | None = None) -> str:
        line = self.lines.get(key or "", self.lines.get("", 1))
        return f"{self.path}:{line}" if self.path else f"<task {self.name}>"


@dataclass
class SuiteConfig:
    name: str
    tasks: list[str]
    description: str = ""
    path: Path | None = None


def _key_lines(node: yaml.Node) -> dict[str, int]:
    lines = {"": node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            lines[str(key_node.value)] = key_node.start_mark.line + 1
            if isinstance(value_node, yaml.MappingNode) and key_node.value == "args":
                for k2, _ in value_node.value:
                    lines[f"args.{k2.value}"] = k2.start_mark.line + 1
    return lines


def parse_file(path: Path) -> TaskConfig | SuiteConfig:
    """Parse one YAML file into a task or a suite, or raise :class:`TaskConfigError`."""
    try:
        data, node = load_limited(read_limited(path))
    except YAMLLimitError as err:
        raise TaskConfigError(f"{path}:{err.line}: refused: {err}") from None
    except UnicodeDecodeError as err:
        raise TaskConfigError(f"{path}:1: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except OSError as err:
        raise TaskConfigError(f"{path}: cannot read ({err.strerror or err})") from None
    except (RecursionError, MemoryError) as err:  # a limit this module does not know about
        raise TaskConfigError(f"{path}:1: refused: too complex to parse ({type(err).__name__})") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        ctx, cmark = getattr(err, "context", None), getattr(err, "context_mark", None)
        started = f" ({ctx} at {path}:{cmark.line + 1}:{cmark.column + 1})" if ctx and cmark else ""
        raise TaskConfigError(f"{where}: invalid YAML: {getattr(err, 'problem', err)}{started}") from err
    if not isinstance(data, dict) or node is None:
        raise TaskConfigError(f"{path}:1: expected a mapping with 'task' and 'benchmark' (or 'suite' and 'tasks'), got {type(data).__name__}")
    lines = _key_lines(node)
    for key in ("task", "suite", "description"):
        if key in data and not isinstance(data[key], str):
            raise TaskConfigError(f"{path}:{lines.get(key, 1)}: field {key!r} must be a string, got {_kind(data[key])}")
    if "suite" in data:
        unknown = set(data) - SUITE_KEYS
        if unknown:
            key = sorted(unknown)[0]
            raise TaskConfigError(f"{path}:{lines.get(key, 1)}: unknown field {key!r} in suite (expected {sorted(SUITE_KEYS)})")
        names = data.get("tasks")
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise TaskConfigError(f"{path}:{lines.get('tasks', 1)}: field 'tasks' must be a non-empty list of task names")
        if not data["suite"].strip():
            raise TaskConfigError(f"{path}:{lines.get('suite', 1)}: field 'suite' must not be empty")
        return SuiteConfig(name=data["suite"], tasks=names, description=data.get("description", ""), path=path)
    unknown = set(data) - TASK_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise TaskConfigError(f"{path}:{lines.get(key, 1)}: unknown field {key!r} (expected one of {sorted(TASK_KEYS)})")
    if not isinstance(data.get("benchmark"), str) or not data["benchmark"]:
        raise TaskConfigError(f"{path}:{lines.get('benchmark', 1)}: field 'benchmark' is required and must name a benchmark plugin")
    args = data.get("args") or {}
    if not isinstance(args, dict):
        raise TaskConfigError(f"{path}:{lines.get('args', 1)}: field 'args' must be a mapping of argument names to values")
    tags = data.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise TaskConfigError(f"{path}:{lines.get('tags', 1)}: field 'tags' must be a list of strings")
    return TaskConfig(
        name=data.get("task") or path.stem,
        benchmark=data["benchmark"],
        description=data.get("description", ""),
        args=args,
        tags=[str(t) for t in tags],
        path=path,
        lines=lines,
    )


def similar(name: str, known: Iterable[str], n: int = 8) -> list[str]:
    """Known names a typo of ``name`` probably meant, closest first."""
    known = sorted(set(known))
    close = difflib.get_close_matches(name, known, n=n, cutoff=0.6)
    stem = name.split("_")[0]
    return (close + [k for k in known if stem and k.startswith(stem) and k not in close])[:n]


def _wants_sequence(annotation: Any) -> bool:
    """Whether a parameter annotation asks for a list (a bare string would be iterated by character)."""
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", repr(annotation))
    text = text.replace("typing.", "")
    while "[" in text:  # drop type arguments: "Sequence[str] | None" -> "Sequence | None"
        text = re.sub(r"\[[^\[\]]*\]", "", text)
    parts = {p.strip() for p in text.split("|")}
    listy = {"list", "tuple", "set", "frozenset", "Sequence", "Iterable", "Collection", "List", "Tuple"}
    return bool(parts & listy) and not parts & {"str", "Any", "object"}


def _what(cfg: TaskConfig | SuiteConfig) -> str:
    return "suite" if isinstance(cfg, SuiteConfig) else "task"


def _kind(value: Any) -> str:
    return f"a {type(value).__name__} ({value!r:.60})"


@dataclass
class TaskIndex:
    """All tasks and suites found on the search path."""

    tasks: dict[str, TaskConfig] = field(default_factory=dict)
    suites: dict[str, SuiteConfig] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # malformed files (reported, not fatal for listing)
    broken: dict[str, str] = field(default_factory=dict)  # file stem -> its error
    notes: list[str] = field(default_factory=list)  # overrides of one folder's task by a later folder's

    @classmethod
    def scan(cls, folders: Iterable[Path], required: Iterable[Path] = ()) -> TaskIndex:
        """Read every folder; ``required`` folders (``--include-path``) must exist."""
        index = cls()
        required = {Path(p) for p in required}
        for folder in folders:
            folder = Path(folder)
            if not folder.exists():
                if folder in required:
                    raise TaskConfigError(f"--include-path {folder}: no such file or folder")
                index.errors.append(f"{folder}: task folder does not exist")
                continue
            files = [folder] if folder.is_file() else sorted(p for p in folder.rglob("*") if p.suffix in (".yaml", ".yml"))
            index._add_folder(files)
        return index

    def _add_folder(self, files: list[Path]) -> None:
        here: dict[str, TaskConfig | SuiteConfig] = {}
        twice: set[str] = set()
        for path in files:
            try:
                cfg = parse_file(path)
            except TaskConfigError as err:
                self.errors.append(str(err))
                self.broken[path.stem] = str(err)
                continue
            if cfg.name in here:
                line = cfg.lines.get("task", 1) if isinstance(cfg, TaskConfig) else 1
                clash = (f"{path}:{line}: {_what(cfg)} name {cfg.name!r} is also defined in {here[cfg.name].path}; "
                         f"rename one (neither is used)")
                self.errors.append(clash)
                self.broken[cfg.name] = clash
                twice.add(cfg.name)
                continue
            here[cfg.name] = cfg
        for name in twice:  # ambiguous: neither definition (nor an earlier folder's) is used
            here.pop(name, None)
            self.tasks.pop(name, None)
            self.suites.pop(name, None)
        for name, cfg in here.items():
            earlier = self.tasks.pop(name, None) or self.suites.pop(name, None)
            if earlier is not None:
                self.notes.append(f"{cfg.path}: {_what(cfg)} {name!r} overrides the one in {earlier.path}")
            if isinstance(cfg, SuiteConfig):
                self.suites[name] = cfg
            else:
                self.tasks[name] = cfg

    def tags(self) -> dict[str, list[str]]:
        """Tag -> task names; a tag works like a suite (``default`` is the default suite)."""
        out: dict[str, list[str]] = {}
        for name in sorted(self.tasks):
            for tag in self.tasks[name].tags:
                out.setdefault(tag, []).append(name)
        return out

    def expand(self, names: Iterable[str]) -> list[TaskConfig]:
        """Resolve task, suite and tag names (suites recursively) to task configs, in order."""
        out: list[TaskConfig] = []
        seen: set[str] = set()

        def visit(name: str, trail: tuple[str, ...]) -> None:
            if name in self.suites:
                if name in trail:
                    raise TaskConfigError(f"suite {name!r} includes itself ({' -> '.join(trail + (name,))})")
                for sub in self.suites[name].tasks:
                    visit(sub, trail + (name,))
            elif name in self.tasks:
                if name not in seen:
                    seen.add(name)
                    out.append(self.tasks[name])
            elif name in self.tags():
                for task_name in self.tags()[name]:
                    visit(task_name, trail)
            elif name in self.broken:
                raise TaskConfigError(self.broken[name])
            else:
                close = similar(name, [*self.tasks, *self.suites, *self.tags()])
                hint = f"; similar: {', '.join(close)}" if close else ""
                where = f" (in suite {trail[-1]!r}, {self.suites[trail[-1]].path})" if trail else ""
                broken = f"; {len(self.errors)} task file(s) could not be read, e.g. {self.errors[0]}" if self.errors else ""
                raise TaskConfigError(f"unknown task {name!r}{where}{hint}; `harness list` shows the available tasks{broken}")

        for name in names:
            visit(name, ())
        return out


def instantiate(cfg: TaskConfig, benchmark_cls: type[Any], overrides: dict[str, Any] | None = None) -> Any:
    """Build the benchmark from the task's args; unknown/missing args name the YAML line."""
    from harness.taskenv import expand_args

    args = expand_args(cfg, check_args(cfg, benchmark_cls, overrides))
    try:
        return benchmark_cls(**args)
    except (TypeError, ValueError) as err:
        raise TaskConfigError(f"{cfg.where('args')}: task {cfg.name!r}: invalid arguments for benchmark {cfg.benchmark!r}: {err}") from err


def check_args(cfg: TaskConfig, benchmark_cls: type[Any], overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The task's args checked against the benchmark's ``__init__`` signature, without building it."""
    args = {**cfg.args, **(overrides or {})}
    sig = inspect.signature(benchmark_cls.__init__)
    params = {n: p for n, p in sig.parameters.items() if n != "self"}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    if not takes_any:
        for key in args:
            if key not in params:
                raise TaskConfigError(
                    f"{cfg.where('args.' + key)}: task {cfg.name!r}: unknown argument {key!r} for benchmark "
                    f"{cfg.benchmark!r} (accepted: {', '.join(sorted(params)) or 'none'})"
                )
    for key, value in args.items():
        if key in params and isinstance(value, str) and _wants_sequence(params[key].annotation):
            raise TaskConfigError(f"{cfg.where('args.' + key)}: task {cfg.name!r}: argument {key!r} must be a list "
                                  f"(e.g. {key}: [{value}]), got the string {value!r}")
    missing = [n for n, p in params.items() if p.default is inspect.Parameter.empty and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and n not in args]
    if missing:
        raise TaskConfigError(f"{cfg.where('args')}: task {cfg.name!r}: missing required argument(s) {missing} for benchmark {cfg.benchmark!r}")
    return args
