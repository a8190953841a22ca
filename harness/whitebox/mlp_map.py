"""How an MLP-output edit reaches the residual stream, measured through the adapter's public
names: what both the conformance check and MEMIT's pre-edit check compare with
``mlp_output_map``."""

from __future__ import annotations

from typing import Any

import torch

from harness.models.base import Intervention


def mlp_edit_residual_change(adapter: Any, text: str, layer: int, scale: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Add a seeded random v (``scale`` x |m|) to block ``layer``'s MLP output m at ``text``'s last
    token: ``(measured, predicted)`` change of residual site ``layer`` there, float32 on the CPU;
    predicted = map(m + v) - map(m) by ``adapter.mlp_output_map`` (v where the map is None)."""
    base = adapter.forward([text], sites=[("mlp_out", layer), layer])
    m = base.states[("mlp_out", layer)][0, -1]
    v = torch.randn(m.shape[-1], generator=torch.Generator().manual_seed(seed)).to(m.device, m.dtype)
    v = v * (scale * m.float().norm().clamp(min=1e-3) / v.float().norm()).to(m.dtype)
    add = [Intervention(("mlp_out", layer), [-1], lambda h, _s: h + v)]
    moved = adapter.run_with_interventions([text], add, sites=[layer], grad=False)
    got = moved.states[layer][0, -1].float() - base.states[layer][0, -1].float()
    fn = adapter.mlp_output_map(layer)
    with torch.no_grad():
        want = v.float() if fn is None else fn(m + v).float() - fn(m).float()
    return got.cpu(), want.cpu()
