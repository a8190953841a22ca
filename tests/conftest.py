"""Shared test fixtures: tiny random models, paths, and subprocess helpers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
REFDATA = REPO.parent / "shared" / "refdata"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def refdata(*parts: str) -> Path:
    """A path under ../shared/refdata, or skip the test when that data is absent."""
    path = REFDATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"reference data {path} is not present")
    return path


def run_cli(args: list[str], env: dict | None = None, cwd: Path | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run ``python -m harness ARGS`` as a real subprocess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd or REPO, timeout=timeout)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny random Llama saved with the real SmolLM2 tokenizer, loadable by ``pretrained=DIR``."""
    from harness.testing import tiny_model, tokenizer

    path = tmp_path_factory.mktemp("tiny-llama")
    tiny_model("llama", seed=0).save_pretrained(path)
    tokenizer().save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def example_plugin_site(tmp_path_factory) -> Path:
    """The example plugin distribution really installed (pip --target) into a private site dir."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(target),
                    str(REPO / "tests" / "example_plugin")], check=True, capture_output=True, text=True)
    return target
