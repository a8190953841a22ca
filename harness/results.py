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
    blob = json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:n]


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:120] or "model"


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
    """Append-only JSONL of sample results; each batch is flushed and fsynced."""

    def __init__(self, path: Path, meta: dict[str, Any], resume: bool):
        self.path = path
        self.meta_path = path.with_suffix(".meta.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.done: dict[str, dict[str, Any]] = {}
        if path.exists() and resume:
            self.done = {rec["sample_id"]: rec for rec in read_sample_lines(path)}
            _rewrite_clean(path, self.done.values())  # drop a torn last line before appending
        elif path.exists():
            stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(path.stat().st_mtime))
            path.rename(path.with_name(f"{path.stem}.{stamp}.jsonl"))  # keep, never overwrite
        write_json_atomic(self.meta_path, meta)
        self._fh = path.open("a", encoding="utf-8")

    def append(self, records: Iterable[dict[str, Any]]) -> None:
        for rec in records:
            self._fh.write(json.dumps(json_safe(rec), ensure_ascii=False, allow_nan=False) + "\n")
            self.done[rec["sample_id"]] = rec
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()


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
    tmp = path.with_suffix(".jsonl.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def sample_record(result: SampleResult, doc: dict[str, Any], prompt: str) -> dict[str, Any]:
    return {
        "sample_id": result.sample_id,
        "doc_hash": stable_hash(doc, 64),
        "prompt_hash": hashlib.sha256(prompt.encode()).hexdigest(),
        "doc": doc,
        "values": result.values,
        "log": result.log,
    }


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


def git_hash() -> str | None:
    repo = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
