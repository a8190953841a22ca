"""Results documents and per-sample logs.

Layout under ``--output-path DIR``::

    DIR/<model-slug>/results_<timestamp>.json          one per run, written atomically
    DIR/<model-slug>/samples_<task>_<key>.jsonl        one line per sample, flushed per batch
    DIR/<model-slug>/samples_<task>_<key>.meta.json    what the key stands for (resume checks it)

``<key>`` hashes the task config, limit, seed and model fingerprint, so ``--resume`` finds
exactly the lines a killed run with the same settings left behind.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Iterator

from harness.benchmark import SampleResult

SCHEMA_VERSION = 1


def stable_hash(obj: Any, n: int = 16) -> str:
    """sha256 of the canonical JSON of ``obj`` (first ``n`` hex digits)."""
    blob = json.dumps(obj, sort_keys=True, ensure_ascii=False, default=_canonical).encode()
    return hashlib.sha256(blob).hexdigest()[:n]


def _canonical(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):  # str() of a set depends on the hash seed
        return sorted(value, key=repr)
    return str(value)


def slug(text: str) -> str:
    """A file-name-safe form of ``text``; never ``.``/``..`` or hidden (leading dots are dropped)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_.")[:120] or "model"


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def json_safe(value: Any) -> Any:
    """Make numbers stay numbers (NaN/inf become null) and tensors/arrays plain lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "tolist"):  # numpy / torch
        return json_safe(value.tolist())
    if hasattr(value, "item"):
        return json_safe(value.item())
    return str(value)


def write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # as open() would: mkstemp makes files 0600
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(json_safe(data), fh, indent=2, ensure_ascii=False, allow_nan=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class RunInfo:
    """The identity of a run, given to lifecycle hooks and written into the results file."""

    run_id: str
    output_dir: Path | None
    model_name: str
    model_args: dict[str, Any]
    tasks: list[str]
    config: dict[str, Any] = field(default_factory=dict)
    fingerprint: str = ""
    started: float = field(default_factory=time.time)


class SampleLog:
    """Append-only JSONL of sample results; each batch is flushed and fsynced.

    A fresh run never renames or overwrites an earlier log (its results file points at it):
    when ``path`` exists it writes ``<stem>.run-<stamp>-<tag>.jsonl`` instead. ``resume``
    continues the newest log of the same key.
    """

    def __init__(self, path: Path, meta: dict[str, Any], resume: bool, tag: str = ""):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.done: dict[str, dict[str, Any]] = {}
        existing = logs_of(path)
        if resume and existing:
            path = existing[-1]
            self.done = {rec["sample_id"]: rec for rec in read_sample_lines(path)}
            _rewrite_clean(path, self.done.values())  # drop a torn last line before appending
        elif path.exists():
            path = _unused_name(path, tag)
        self.path = path
        self.meta_path = path.with_suffix(".meta.json")
        write_json_atomic(self.meta_path, meta)
        self._fh = path.open("a", encoding="utf-8")

    def keep(self, records: Iterable[dict[str, Any]]) -> None:
        """Rewrite the log with only ``records`` (resume drops stale and failed lines)."""
        self._fh.close()
        kept = list(records)
        _rewrite_clean(self.path, kept)
        self.done = {rec["sample_id"]: rec for rec in kept}
        self._fh = self.path.open("a", encoding="utf-8")

    def append(self, records: Iterable[dict[str, Any]]) -> None:
        for rec in records:
            self._fh.write(json.dumps(json_safe(rec), ensure_ascii=False, allow_nan=False) + "\n")
            self.done[rec["sample_id"]] = rec
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()


def logs_of(path: Path) -> list[Path]:
    """Existing logs for ``path``'s key (itself and its per-run variants), oldest first."""
    found = [p for p in [path, *path.parent.glob(f"{path.stem}.*.jsonl")] if p.is_file()]
    return sorted(set(found), key=lambda p: (p.stat().st_mtime_ns, p.name))


def _unused_name(path: Path, tag: str) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%S")
    for n in range(1, 10_000):
        candidate = path.with_name(f"{path.stem}.run-{stamp}-{tag or 'x'}{'' if n == 1 else f'-{n}'}.jsonl")
        if not candidate.exists():
            return candidate
    raise FileExistsError(f"no free sample-log name next to {path}")


def read_sample_lines(path: Path) -> Iterator[dict[str, Any]]:
    """Read a samples JSONL; a torn final line (a killed writer) is skipped."""
    with path.open(encoding="utf-8") as fh:
        lines = fh.readlines()
    for i, line in enumerate(lines):
        try:
            yield json.loads(line)
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                return
            raise ValueError(f"{path}:{i + 1}: corrupt sample line (not JSON)") from None


def _rewrite_clean(path: Path, records: Iterable[dict[str, Any]]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def doc_hash(doc: dict[str, Any]) -> str:
    return stable_hash(doc, 64)


def prompt_hash(prompt: str) -> str:
    return hashlib.sha256(prompt.encode()).hexdigest()


def sample_record(result: SampleResult, doc: dict[str, Any], prompt: str, config: str = "") -> dict[str, Any]:
    """One log line; ``config`` is the digest of the task's configuration (resume checks it)."""
    rec = {
        "sample_id": result.sample_id,
        "doc_hash": doc_hash(doc),
        "prompt_hash": prompt_hash(prompt),
        "doc": doc,
        "values": result.values,
        "log": result.log,
    }
    if config:
        rec["config"] = config
    return rec


def failed_record(sample_id: str, doc: dict[str, Any], prompt: str, error: str, config: str = "") -> dict[str, Any]:
    """The log line of a sample whose evaluation raised; ``--resume`` retries it."""
    rec = sample_record(SampleResult(sample_id, {}), doc, prompt, config)
    rec["error"] = error
    return rec


def record_to_result(rec: dict[str, Any]) -> SampleResult:
    return SampleResult(sample_id=rec["sample_id"], values=rec.get("values", {}), log=rec.get("log", {}))


def environment_info() -> dict[str, Any]:
    packages = {}
    for name in ("interp-harness", "torch", "transformers", "accelerate", "numpy", "pluggy", "lm_eval", "scikit-learn"):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": packages,
        "git_hash": git_hash(),
    }


def git_hash(repo: Path | None = None) -> str | None:
    """The commit of the git checkout the harness runs from (``-dirty`` with local changes);
    ``None`` when it is installed outside one (a wheel in a venv inside another repository does not count)."""
    repo = (repo or Path(__file__).resolve().parent.parent).resolve()
    if not (repo / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
