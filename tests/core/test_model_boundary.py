"""The model boundary: plugins reach a model only through the adapter protocol's public names.

Parses every Python file under ``plugins/`` and fails when a plugin uses an attribute of an
adapter object that is not in :data:`harness.whitebox.protocol.PLUGIN_API`, imports transformers
model classes, or imports the white-box layer's internals (hooks, layout, decode loop).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from harness.whitebox.protocol import PLUGIN_API

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
#: Names that hold an adapter in plugin code (parameters, attributes, locals).
ADAPTER_NAMES = {"adapter", "model", "inner", "hf_model", "lm"}
#: Modules only the core may import: the hook primitive, the model layout, the decode loop.
INTERNAL_MODULES = ("harness.whitebox.hooks", "harness.whitebox.layout", "harness.whitebox.decode",
                    "harness.models.generation", "harness.models.hf", "harness.models.scoring")
#: transformers imports a plugin may use (tokenizers and configs, never model classes).
ALLOWED_TRANSFORMERS = {"AutoTokenizer", "PreTrainedTokenizerBase", "AutoConfig"}
#: MeLLo's retriever is its own sentence encoder (MiniLM / Contriever), not the evaluated model.
EXEMPT = {("plugins/mquake/retriever.py", "AutoModel")}


def _holder(node: ast.expr) -> str | None:
    """The name an attribute is read from: ``adapter`` for ``adapter.x`` and ``self.adapter.x``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def violations(source: str, path: str) -> list[str]:
    tree = ast.parse(source, path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _holder(node.value) in ADAPTER_NAMES:
            if node.attr not in PLUGIN_API and not node.attr.startswith("__"):
                found.append(f"{path}:{node.lineno}: adapter attribute {node.attr!r} is not in the protocol (PLUGIN_API)")
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith(INTERNAL_MODULES):
                found.append(f"{path}:{node.lineno}: imports {node.module}, an internal of the model boundary")
            if node.module.split(".")[0] == "transformers":
                bad = [a.name for a in node.names if a.name not in ALLOWED_TRANSFORMERS and (path, a.name) not in EXEMPT]
                if bad:
                    found.append(f"{path}:{node.lineno}: imports transformers {', '.join(bad)}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(INTERNAL_MODULES):
                    found.append(f"{path}:{node.lineno}: imports {alias.name}, an internal of the model boundary")
    return found


def test_plugins_use_only_the_adapter_protocol():
    files = sorted(PLUGINS.rglob("*.py"))
    assert len(files) > 40  # the walk saw the plugins
    found = [v for f in files for v in violations(f.read_text(encoding="utf-8"), str(f.relative_to(PLUGINS.parent)))]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("code, what", [
    ("def f(adapter):\n    return adapter.model(x)\n", "'model'"),
    ("class R:\n    def g(self):\n        self.adapter.blocks[0]\n", "'blocks'"),
    ("from harness.whitebox.hooks import site_hooks\n", "internal"),
    ("from transformers import LlamaForCausalLM\n", "LlamaForCausalLM"),
    ("import harness.whitebox.layout\n", "internal"),
])
def test_the_check_catches_each_kind_of_reach(code, what):
    found = violations(code, "x.py")
    assert found and what in found[0]


def test_the_check_accepts_protocol_use():
    code = "def f(model, adapter):\n    adapter.forward_ids(1, 2)\n    return model.interchange_engine(), model.tokenizer.decode([1])\n"
    assert violations(code, "x.py") == []
