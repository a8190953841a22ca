"""Bounded YAML loading for task and suite files: size, nesting and alias-expansion limits.

A task file is a few hundred bytes; anything far larger, deeper or expanding to far more
nodes than it has characters is refused before it can cost seconds or gigabytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import yaml

MAX_BYTES = 64 * 1024  # task files in the repository are under 1 KiB
MAX_TOKENS = 10_000  # they have about a hundred tokens
MAX_DEPTH = 32  # nested mappings / sequences
MAX_EXPANDED = 20_000  # nodes plus scalar characters after alias expansion, over the file's own size

_OPEN = (yaml.FlowSequenceStartToken, yaml.FlowMappingStartToken, yaml.BlockSequenceStartToken,
         yaml.BlockMappingStartToken)
_CLOSE = (yaml.FlowSequenceEndToken, yaml.FlowMappingEndToken, yaml.BlockEndToken)


class YAMLLimitError(ValueError):
    """The file breaks a size, nesting or expansion limit; ``line`` is 1-based."""

    def __init__(self, message: str, line: int = 1):
        super().__init__(message)
        self.line = line


def read_limited(path: Path) -> str:
    """The file's text, refusing files over :data:`MAX_BYTES` without reading them."""
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise YAMLLimitError(f"file is {size} bytes; task and suite files are limited to {MAX_BYTES} bytes")
    return path.read_bytes().decode("utf-8")


def _check_tokens(text: str) -> None:
    """Scan tokens (libyaml when available: fast and iterative) and stop at the first limit broken.

    A file libyaml cannot scan is rescanned by the pure-Python scanner, so that its syntax error
    reads exactly as the parser's that follows."""
    fast = getattr(yaml, "CSafeLoader", None)
    try:
        _count(yaml.scan(text, Loader=fast or yaml.SafeLoader))
    except YAMLLimitError:
        raise
    except yaml.YAMLError:
        if fast is None:
            raise
        _count(yaml.scan(text, Loader=yaml.SafeLoader))


def _count(tokens: Iterator[yaml.Token]) -> None:
    depth = 0
    for n, token in enumerate(tokens):
        if n > MAX_TOKENS:
            raise YAMLLimitError(f"more than {MAX_TOKENS} YAML tokens; task and suite files are a few dozen", token.start_mark.line + 1)
        if isinstance(token, _OPEN):
            depth += 1
            if depth > MAX_DEPTH:
                raise YAMLLimitError(f"nested more than {MAX_DEPTH} levels deep", token.start_mark.line + 1)
        elif isinstance(token, _CLOSE):
            depth -= 1


def _check_expansion(root: yaml.Node, budget: int) -> None:
    """Count nodes and scalar characters as a constructor would see them (aliases expanded)."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise YAMLLimitError("an alias refers to a node that contains it (recursive alias)", node.start_mark.line + 1)
        active.add(key)
        if isinstance(node, yaml.ScalarNode):
            total = 1 + len(node.value)
        elif isinstance(node, yaml.SequenceNode):
            total = 1 + sum(size(child) for child in node.value)
        else:
            total = 1 + sum(size(k) + size(v) for k, v in node.value)
        active.discard(key)
        if total > budget:
            raise YAMLLimitError(f"aliases expand to more than {budget} nodes and characters (a YAML bomb?)",
                                 node.start_mark.line + 1)
        sizes[key] = total
        return total

    size(root)


def load_limited(text: str) -> tuple[Any, yaml.Node | None]:
    """Parse one YAML document within the limits; returns (data, root node)."""
    _check_tokens(text)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        _check_expansion(node, MAX_EXPANDED + 4 * len(text))
        return loader.construct_document(node), node
    finally:
        loader.dispose()
