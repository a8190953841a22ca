"""The output folder: its default, checks before any model loads, and one writer at a time.

``harness run`` writes under ``--output-path`` or, without it, under ``./harness-runs/``
(``HARNESS_RUNS_DIR`` overrides), never the repository's committed ``results/``. A run holds
``DIR/.harness.lock`` (an OS file lock, released even on SIGKILL) for its whole duration;
a second run on the same folder is refused with a message naming the holder.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

RUNS_ENV = "HARNESS_RUNS_DIR"
DEFAULT_RUNS_DIR = "harness-runs"
LOCK_NAME = ".harness.lock"
OWNER_NAME = ".harness.lock.owner"


class OutputPathError(ValueError):
    """The output folder cannot be used (a file, not writable, locked by another run)."""


def default_output_dir() -> Path:
    return Path(os.environ.get(RUNS_ENV) or DEFAULT_RUNS_DIR)


def check_output_dir(root: Path) -> Path:
    """Create ``root`` if needed and prove it is a writable folder; returns it resolved."""
    root = Path(root).expanduser()
    if root.exists() and not root.is_dir():
        raise OutputPathError(f"--output-path {root}: is a file, not a folder")
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=root, prefix=".write-test.")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise OutputPathError(f"--output-path {root}: cannot write there ({err.strerror or err})") from None
    return root.resolve()


def inside(root: Path, name: str) -> Path:
    """``root/name``, refusing a name that would leave ``root`` (``..``, absolute paths, links)."""
    target = (root / name).resolve()
    if target == root or root not in target.parents:
        raise OutputPathError(f"model name {name!r} would write outside --output-path {root}")
    return target


class OutputLock:
    """Hold ``root/.harness.lock`` for a run; refuse at once when another run holds it."""

    def __init__(self, root: Path):
        self.root = root
        self._lock = FileLock(str(root / LOCK_NAME), timeout=0)
        self._owner = root / OWNER_NAME

    def __enter__(self) -> OutputLock:
        try:
            self._lock.acquire()
        except Timeout:
            raise OutputPathError(f"--output-path {self.root} is in use by another run ({self.holder()}); wait for it "
                                  f"to finish or choose another --output-path") from None
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                "command": " ".join(["harness", *sys.argv[1:]])}
        self._owner.write_text(json.dumps(info), encoding="utf-8")
        remove_orphans(self.root)
        return self

    def holder(self) -> str:
        try:
            info: dict[str, Any] = json.loads(self._owner.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return "holder unknown"
        return f"pid {info.get('pid')} on {info.get('host')}, started {info.get('started')}: {info.get('command')}"

    def __exit__(self, *exc: Any) -> None:
        self._owner.unlink(missing_ok=True)
        self._lock.release()


def remove_orphans(root: Path) -> list[Path]:
    """Delete temporary files a killed writer left behind (only safe while holding the lock)."""
    found = [p for pattern in (".*.tmp", "*/.*.tmp", "*/*.jsonl.tmp") for p in root.glob(pattern) if p.is_file()]
    for path in found:
        path.unlink(missing_ok=True)
    return found
