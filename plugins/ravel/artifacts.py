"""Save a RAVEL cell's fitted intervention and rebuild it, so a run can be re-scored without refitting.

Files are written by :func:`harness.interventions.saving.save` (``.safetensors``: tensors plus the
cell's facts). :func:`load_cell` rebuilds the exact module from the tensors (PCA/SAE swaps, DBM
masks, DAS/MDAS/RLAP subspaces as their rows, the full swap); external (``module:factory``)
featurizers are saved for inspection but can only be rebuilt by their own code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn


def save_cell(path: Path, fn: nn.Module, facts: dict[str, Any]) -> str:
    from harness.interventions.saving import save

    extra = {"keep_error": bool(getattr(fn, "keep_error", False))}
    return save(path, {"fn": fn}, {**facts, **extra})


def load_cell(path: Path) -> tuple[nn.Module, dict[str, Any]]:
    """(the intervention module, the cell's facts) of a file written by :func:`save_cell`."""
    from harness.interventions.saving import load, subspace_from
    from harness_plugins.ravel.featurizers import PCASwap, SAESwap, SparseAutoencoder
    from harness_plugins.ravel.methods import _Swap
    from harness_plugins.ravel.trainable import BinaryMask

    tensors, kinds, facts = load(path)
    t, kind = tensors["fn"], kinds["fn"]
    if kind in ("Subspace", "RotatedSubspace"):
        module: nn.Module = subspace_from(t)
    elif kind == "PCASwap":
        module = PCASwap(t["mean"].numpy(), t["std"].numpy(), t["rows"].numpy())
    elif kind == "SAESwap":
        latent, d = t["sae.encoder.weight"].shape
        sae = SparseAutoencoder(d, latent)
        sae.load_state_dict({k.removeprefix("sae."): v for k, v in t.items() if k.startswith("sae.")})
        module = SAESwap(sae.eval(), t["dims"].tolist(), facts.get("keep_error", False))
    elif kind == "BinaryMask":
        module = BinaryMask(t["logits"].numel())
        module.load_state_dict(t)
    elif kind == "_Swap":
        module = _Swap()
    else:
        raise ValueError(f"{path}: cannot rebuild a {kind} here (external featurizers are rebuilt by their own code)")
    return module.eval(), facts


def rescore(path: Path, runner: Any, examples: list) -> list[dict]:
    """Reload a saved cell and re-run its interventions: the log records it gives."""
    module, _ = load_cell(path)
    with torch.no_grad():
        return runner.records(module.to(runner.engine.device), examples)
