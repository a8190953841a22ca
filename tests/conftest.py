"""Shared test fixtures: tiny random models and an installed example plugin."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from testutil import REFDATA, REPO, example_plugin_source, refdata, run_cli  # noqa: F401 - re-exported for tests that import them from here

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# `harness run` without --output-path writes to ./harness-runs; tests keep that out of the repository.
os.environ.setdefault("HARNESS_RUNS_DIR", tempfile.mkdtemp(prefix="harness-runs-"))
# Acceptance task files name the papers' data as $HARNESS_REFDATA/...; point it at the local copy.
if REFDATA.is_dir():
    os.environ.setdefault("HARNESS_REFDATA", str(REFDATA))


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
                    str(example_plugin_source(tmp_path_factory.mktemp("src")))], check=True, capture_output=True, text=True)
    return target


@pytest.fixture
def single_thread():
    """torch at 1 thread for the test: tiny tensors gain nothing from threads, and on a busy
    machine torch's thread pool spin-waits (measured here: 60x slower with 2 threads under load)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
