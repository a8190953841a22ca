"""The weight-edit method's check that ``weight_edits`` gave back the exact weights."""

from __future__ import annotations

from typing import Any


def check_restored(adapter: Any, editor: Any, snapshot: dict[int, Any] | None) -> dict[int, Any]:
    """With ``snapshot=None``: copy the MLP output projections ``editor`` may change (its
    ``layers(adapter)``, else every layer). Otherwise compare them with ``snapshot`` and raise
    if any differs in a single bit."""
    import torch

    if snapshot is None:
        layers = editor.layers(adapter) if hasattr(editor, "layers") else range(1, adapter.num_layers + 1)
        return {int(l): adapter.mlp_projection(int(l))[0].detach().clone() for l in layers}
    changed = [l for l, w in snapshot.items() if not torch.equal(adapter.mlp_projection(l)[0].detach(), w)]
    if changed:
        raise RuntimeError(f"weights of the MLP projections of layers {changed} were not restored after a weight edit")
    return snapshot
