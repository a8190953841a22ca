"""Generate ``reference/tasks.md``: every registered benchmark's accepted task-YAML ``args``.

The arguments are read from each benchmark's ``__init__`` signature, which is exactly what
``harness.tasks.check_args`` validates a task file against; the shipped tasks come from the
same task index ``harness list`` reads. Run by mkdocs-gen-files at build time.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import mkdocs_gen_files

from harness.pluginmanager import PluginManager
from harness.tasks import TASK_KEYS, TaskIndex

PLUGIN_PAGES = Path(__file__).resolve().parents[1] / "plugins"

HEADER = """# Task YAML

A task file is one YAML mapping with the fields FIELDS; `task` defaults to the file's stem,
`benchmark` is required, `args` are passed to the benchmark and checked against the arguments
listed below (an unknown or missing argument is reported with the file and line). A suite file
has `suite: NAME`, `tasks: [...]` and an optional `description`; a tag works as a suite too
(`--tasks default` runs every task tagged `default`).

```yaml
task: causalgym_pronoun_mean
benchmark: causalgym
description: He/she agreement, mean difference at two layers
tags: [quick]
args: {tasks: [agr_pronoun], methods: [mean], layers: [4, 12], n_train: 16, n_eval: 12}
```

String arguments may name environment variables (`$NAME` or `${NAME}`), expanded when a run
builds the task (never when it is listed). The acceptance tasks use `$HARNESS_REFDATA`, the
folder that holds the papers' own data (not shipped): subfolders `causalgym/`, `mquake/`,
`ravel/`, `truthfulqa/` and `llm_usage/`. An unset variable, or a path that does not exist
after expansion, is reported with the task file's line and what to set.

Generated from the installed plugins' benchmarks; the shipped tasks of each are listed with it.
"""


def _type(param: inspect.Parameter) -> str:
    if param.annotation is inspect.Parameter.empty:
        return ""
    text = param.annotation if isinstance(param.annotation, str) else getattr(param.annotation, "__name__", str(param.annotation))
    return f"`{text}`".replace("|", "\\|")


def _default(param: inspect.Parameter) -> str:
    if param.default is inspect.Parameter.empty:
        return "**required**"
    text = repr(param.default)
    return f"`{text if len(text) <= 60 else text[:57] + '...'}`".replace("|", "\\|")


def _docstring(obj: object) -> list[str]:
    doc = inspect.getdoc(obj) or ""
    return [doc, ""] if doc else []


def _benchmark(name: str, spec, tasks: list[str]) -> list[str]:
    page = f" Method, data and results: [the plugin's page](../plugins/{spec.plugin}.md)." if (PLUGIN_PAGES / f"{spec.plugin}.md").exists() else ""
    lines = [f"## `{name}`", "", f"Plugin `{spec.plugin}`. {spec.description}".rstrip() + page, ""]
    try:
        cls = spec.load()
    except Exception as err:  # noqa: BLE001 - a plugin whose extra is missing is documented as such
        return lines + [f"Its implementation cannot be imported here ({type(err).__name__}: {err}).", ""]
    lines += _docstring(cls)
    params = [p for n, p in inspect.signature(cls.__init__).parameters.items() if n != "self"]
    if any(p.kind is p.VAR_KEYWORD for p in params):
        lines += ["Accepts any further keyword arguments (passed through).", ""]
    named = [p for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    if named:
        lines += ["| argument | type | default |", "|---|---|---|"]
        lines += [f"| `{p.name}` | {_type(p)} | {_default(p)} |" for p in named] + [""]
    else:
        lines += ["Takes no arguments.", ""]
    if spec.metrics:
        lines += ["| metric | name | better |", "|---|---|---|"]
        lines += [f"| `{m.name}` | {m.label} | {'higher' if m.higher_is_better else 'lower'} |" for m in spec.metrics] + [""]
    if tasks:
        lines += ["Shipped tasks: " + ", ".join(f"`{t}`" for t in tasks) + ".", ""]
    return lines


def render() -> str:
    pm = PluginManager().load()
    index = TaskIndex.scan(pm.task_paths())
    lines = [HEADER.replace("FIELDS", ", ".join(f"`{k}`" for k in sorted(TASK_KEYS)))]
    for name, spec in sorted(pm.registry().benchmarks.items()):
        tasks = sorted(t for t, cfg in index.tasks.items() if cfg.benchmark == name)
        lines += _benchmark(name, spec, tasks)
    return "\n".join(lines) + "\n"


with mkdocs_gen_files.open("reference/tasks.md", "w") as fh:
    fh.write(render())
