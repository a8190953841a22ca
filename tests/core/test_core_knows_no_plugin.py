"""The core (``harness/``) never imports, loads by import string or is named after a built-in
plugin: every built-in plugin reaches the core only through the hooks. Docstrings and comments
may still mention a plugin as an example."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from testutil import REPO

#: The built-in plugins (their folders in plugins/) and the distinctive names of their parts.
PLUGIN_NAMES = {p.name for p in (REPO / "plugins").iterdir() if (p / "plugin.py").is_file()} | {"mello", "truthfulqa"}
IMPORT_STRING = re.compile(r"^[A-Za-z_][\w.]*(:[\w.]+)?$")


def _mentions(text: str) -> bool:
    parts = {part.lower() for part in re.split(r"[.:]", text)}
    return "harness_plugins" in text or any(part in PLUGIN_NAMES or part.startswith(tuple(PLUGIN_NAMES)) for part in parts)


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                ids.add(id(first.value))
    return ids


def offences(path: Path, root: Path) -> list[str]:
    """What in ``path`` ties the core to a built-in plugin: its name, imports, import strings."""
    rel = path.relative_to(root).as_posix()
    found = [f"{rel}: named after a plugin"] if any(_mentions(part.removesuffix(".py")) for part in path.relative_to(root).parts) else []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"{rel}:{node.lineno}: imports {a.name}" for a in node.names if _mentions(a.name)]
        elif isinstance(node, ast.ImportFrom) and (_mentions(node.module or "") or any(_mentions(a.name) for a in node.names)):
            found.append(f"{rel}:{node.lineno}: imports from {node.module}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            text = node.value.strip()
            if "harness_plugins" in text or (IMPORT_STRING.match(text) and ("." in text or ":" in text) and _mentions(text)):
                found.append(f"{rel}:{node.lineno}: import string {text!r}")
    return found


def test_no_core_module_imports_or_is_named_after_a_builtin_plugin():
    root = REPO / "harness"
    assert {"ravel", "causalgym", "mquake", "activation_decoding", "llm_usage"} <= PLUGIN_NAMES
    found = [o for path in sorted(root.rglob("*.py")) for o in offences(path, REPO)]
    assert found == []


def test_the_check_catches_each_kind_of_offence(tmp_path):
    core = tmp_path / "harness"
    (core / "leaderboard" / "plots").mkdir(parents=True)
    (core / "leaderboard" / "plots" / "ravel.py").write_text('"""RAVEL plots: a docstring may say so."""\n')
    (core / "uses.py").write_text(
        '"""Mentions causalgym in its docstring only."""\n'
        "import harness_plugins.causalgym.sweep\n"
        "from harness_plugins.mquake import mello\n"
        "from harness.leaderboard.plots import llm_usage\n"
        "REF = 'harness_plugins.activation_decoding.decoders:activation'\n"
        "LAZY = 'harness.leaderboard.plots.truthfulqa:draw'\n"
        "TEXT = 'a plain sentence about ravel is no import string'  # nor is a comment about ravel\n"
    )
    found = [o for path in sorted(core.rglob("*.py")) for o in offences(path, tmp_path)]
    assert found == [
        "harness/leaderboard/plots/ravel.py: named after a plugin",
        "harness/uses.py:2: imports harness_plugins.causalgym.sweep",
        "harness/uses.py:3: imports from harness_plugins.mquake",
        "harness/uses.py:4: imports from harness.leaderboard.plots",
        "harness/uses.py:5: import string 'harness_plugins.activation_decoding.decoders:activation'",
        "harness/uses.py:6: import string 'harness.leaderboard.plots.truthfulqa:draw'",
    ]
