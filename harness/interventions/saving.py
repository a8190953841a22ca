"""Save fitted interchange functions as ``.safetensors`` so a run can be re-scored without refitting.

One file holds several named modules. Each module's tensors are stored under ``<name>/<key>``
(its ``state_dict``; a :class:`RotatedSubspace` is stored as its current ``rows``, which is all
its forward uses); the file's metadata keeps each module's class name and a JSON blob of the
caller's facts (method, site, target, ...). :func:`load` returns the tensors and facts; the
plugin that wrote the file rebuilds its modules from them (it knows their constructors).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from harness.interventions.functions import RotatedSubspace, Subspace


def module_tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    """The tensors that determine ``module``'s forward (detached, on the CPU)."""
    if isinstance(module, RotatedSubspace):
        return {"rows": module.rows.detach().cpu().contiguous()}
    return {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}


def save(path: Path, modules: dict[str, nn.Module], facts: dict[str, Any] | None = None) -> str:
    """Write ``modules`` to ``path``; returns the file's sha256 (logged beside the outputs)."""
    from safetensors.torch import save_file

    tensors, kinds = {}, {}
    for name, module in modules.items():
        kinds[name] = type(module).__name__
        for key, value in module_tensors(module).items():
            tensors[f"{name}/{key}"] = value
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={"kinds": json.dumps(kinds), "facts": json.dumps(facts or {}, default=str)})
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load(path: Path) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, str], dict[str, Any]]:
    """(tensors by module name, class name by module name, facts) of a file written by :func:`save`."""
    from safetensors import safe_open

    out: dict[str, dict[str, torch.Tensor]] = {}
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
        for full in f.keys():
            name, key = full.split("/", 1)
            out.setdefault(name, {})[key] = f.get_tensor(full)
    kinds = json.loads(meta.get("kinds", "{}"))
    for name in kinds:
        out.setdefault(name, {})
    return out, kinds, json.loads(meta.get("facts", "{}"))


def subspace_from(tensors: dict[str, torch.Tensor]) -> Subspace:
    """A :class:`Subspace` with exactly the saved ``rows`` (no re-orthonormalisation, so the
    reloaded intervention computes what the fitted one did)."""
    rows = tensors["rows"].float()
    module = Subspace(rows)
    module.rows = rows.clone()
    return module
