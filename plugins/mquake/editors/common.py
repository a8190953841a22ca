"""What the three editors share: layer defaults, the edit-record check, weight updates by orientation."""

from __future__ import annotations

from typing import Any, Sequence

import torch


def default_layer(num_layers: int) -> int:
    """ROME's layer for a model without published settings: about a fifth of the depth (GPT-J
    uses 5 of 28), 1-based."""
    return max(1, round(num_layers * 0.2))


def default_span(num_layers: int, width: int = 5) -> list[int]:
    """MEMIT's critical layers for a model without published settings: ``width`` consecutive
    blocks ending at about a third of the depth (GPT-J uses 3-8 of 28), 1-based."""
    end = max(width, round(num_layers * 0.3))
    return list(range(end - width + 1, end + 1))


def check_layers(adapter: Any, layers: Sequence[int]) -> list[int]:
    out = [int(l) for l in layers]
    bad = [l for l in out if not 1 <= l <= adapter.num_layers]
    if bad:
        raise ValueError(f"editor layers {bad} are outside 1..{adapter.num_layers}")
    return out


def check_edits(edits: Sequence[Any]) -> None:
    for e in edits:
        for attr in ("prompt", "subject", "target_new"):
            if not isinstance(getattr(e, attr, None), str):
                raise TypeError(f"an edit needs a string {attr!r} (got {type(e).__name__})")


def add_to_projection(weight: torch.nn.Parameter, orientation: str, update_out_in: torch.Tensor) -> None:
    """``W += update`` with ``update`` given as (d_model, d_ff); transposed for "in_out" weights."""
    upd = update_out_in if orientation == "out_in" else update_out_in.T
    with torch.no_grad():
        weight.add_(upd.to(weight.dtype))


def projection_float(weight: torch.nn.Parameter, orientation: str) -> torch.Tensor:
    """The projection as a float32 (d_model, d_ff) matrix (a copy)."""
    w = weight.detach().float()
    return w if orientation == "out_in" else w.T


def ridge_solve(matrix: torch.Tensor, rhs: torch.Tensor, ridge: float) -> torch.Tensor:
    """``(M + ridge * mean(diag M) I)^-1 rhs`` in float64 (statistics from little text can be
    near-singular; ``ridge`` = 0 solves exactly)."""
    m = matrix.double()
    if ridge:
        m = m + ridge * m.diagonal().mean() * torch.eye(m.shape[0], dtype=m.dtype, device=m.device)
    return torch.linalg.solve(m, rhs.double()).float()
