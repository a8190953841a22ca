"""Environment variables in task arguments: ``data: $HARNESS_REFDATA/mquake/cases.json``.

Acceptance tasks read the papers' own data, which is not shipped; their task files name it
through ``$HARNESS_REFDATA`` (the folder holding that data) instead of a path that only exists
on one machine. Variables are expanded when a task is built for a run, never when it is listed,
so ``harness list`` works without them. An unset variable, or a path that does not exist after
expansion, is a user error naming the task file's line, the variable and what to set.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from harness.tasks import TaskConfig

REFDATA_ENV = "HARNESS_REFDATA"
_VAR = re.compile(r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)\}|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))")
_HINTS = {REFDATA_ENV: "the folder holding the papers' reference data (its subfolders are named after the plugins: "
                       "causalgym/, mquake/, ravel/, truthfulqa/, llm_usage/)"}


def expand_args(cfg: TaskConfig, args: dict[str, Any]) -> dict[str, Any]:
    """``args`` with ``$VAR``/``${VAR}`` expanded in string values (also inside lists and mappings)."""
    from harness.tasks import TaskConfigError

    def expand(value: Any, key: str) -> Any:
        if isinstance(value, list):
            return [expand(v, key) for v in value]
        if isinstance(value, dict):
            return {k: expand(v, key) for k, v in value.items()}
        if not isinstance(value, str) or "$" not in value:
            return value
        names = [m.group("braced") or m.group("plain") for m in _VAR.finditer(value)]
        for name in names:
            if not os.environ.get(name):
                hint = _HINTS.get(name, "")
                raise TaskConfigError(f"{cfg.where('args.' + key)}: task {cfg.name!r}: argument {key!r} is {value!r}, "
                                      f"but the environment variable {name} is not set; set {name} to "
                                      f"{hint or 'the value the task needs'}")
        expanded = _VAR.sub(lambda m: os.environ[m.group("braced") or m.group("plain")], value)
        if names and not os.path.exists(expanded):
            shown = ", ".join(f"{n}={os.environ[n]}" for n in names)
            raise TaskConfigError(f"{cfg.where('args.' + key)}: task {cfg.name!r}: argument {key!r} is {value!r}, which "
                                  f"expands to {expanded!r} ({shown}), and that does not exist; "
                                  f"set {names[0]} to {_HINTS.get(names[0], 'the right folder')}")
        return expanded

    return {key: expand(value, key) for key, value in args.items()}
