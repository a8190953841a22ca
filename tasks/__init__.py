"""Task YAML files and the small data samples of the built-in plugins.

The repository folder ``tasks/`` installs as the import package ``harness_tasks``; each
built-in plugin offers its own sub-folder through the ``harness_task_paths`` hook and reads
its shipped data with :func:`data_dir`.
"""

from __future__ import annotations

from pathlib import Path

TASK_ROOT = Path(__file__).resolve().parent


def task_dir(plugin: str) -> Path:
    """The folder of task YAML files shipped for ``plugin``."""
    return TASK_ROOT / plugin


def data_dir(plugin: str) -> Path:
    """The folder of small data files shipped for ``plugin``."""
    return TASK_ROOT / plugin / "data"
