"""Examples taken from the README and the docs sources: task-YAML blocks and shell commands."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from testutil import REPO

_BLOCK = re.compile(r"^[ \t]*```(\w+)[^\n]*\n(.*?)^[ \t]*```", flags=re.S | re.M)


@dataclass(frozen=True)
class Block:
    """One fenced code block: where it is, its language and its text."""

    path: Path
    line: int
    lang: str
    text: str

    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"


def doc_sources() -> list[Path]:
    """The README, every docs page and the generators (their page templates hold examples too)."""
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md")), *sorted((REPO / "docs" / "gen").glob("*.py"))]


def blocks(path: Path, lang: str) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    return [Block(path, text[: m.start()].count("\n") + 1, m.group(1), m.group(2)) for m in _BLOCK.finditer(text)
            if m.group(1) == lang]


def task_yaml_blocks() -> list[Block]:
    """Every YAML block that is a task or a suite (it has a ``benchmark:`` or ``suite:`` key)."""
    found = []
    for path in doc_sources():
        for block in blocks(path, "yaml"):
            if re.search(r"^(benchmark|suite):", block.text, flags=re.M):
                found.append(block)
    return found


def section_block(path: Path, heading: str, lang: str = "bash", index: int = 0) -> Block:
    """The ``index``-th ``lang`` block under a ``## heading`` of a Markdown file."""
    text = path.read_text(encoding="utf-8")
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    section = text[start: end if end > 0 else len(text)]
    offset = text[:start].count("\n") + 1
    found = [Block(path, offset + section[: m.start()].count("\n"), m.group(1), m.group(2))
             for m in _BLOCK.finditer(section) if m.group(1) == lang]
    return found[index]


def with_limit_one(command: str) -> str:
    """A ``harness ... run`` command line with ``--limit 1`` (replacing any other limit)."""
    code = command.split("#", 1)[0]  # the comment may say "run" too
    if not re.search(r"\bharness\b(\s+(--?[\w-]+(\s+[^-\s]\S*)?))*\s+run\b", code):
        return command
    if re.search(r"--limit[ =]\d+", command):
        return re.sub(r"--limit[ =]\d+", "--limit 1", command)
    return re.sub(r"(\s*#.*)?$", r" --limit 1\1", command, count=1)
