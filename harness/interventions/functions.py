"""Interchange functions ``fn(h_base, h_source) -> h_new`` (all (B, d)).

* :func:`vanilla` swaps the whole vector: ``h' = h_s``.
* :class:`Subspace` swaps a fixed subspace: ``h' = h_b + Rᵀ(R h_s − R h_b)`` with ``R`` (k, d)
  of orthonormal rows (rank-1 probes, mean differences, PCA, ... give k = 1).
* :class:`RotatedSubspace` is the same with a trainable ``R`` kept orthonormal by
  ``torch.nn.utils.parametrizations.orthogonal`` (distributed alignment search, DAS).

Any ``nn.Module`` with that call signature works with the engine (e.g. a learned mask).
"""

from __future__ import annotations

import torch
from torch import nn


def vanilla(h_base: torch.Tensor, h_source: torch.Tensor) -> torch.Tensor:
    """Full interchange: the source state replaces the base state."""
    return h_source


def orthonormal_rows(directions: torch.Tensor) -> torch.Tensor:
    """Orthonormalise the rows of a (k, d) matrix (QR; a single row is just normalised)."""
    directions = torch.as_tensor(directions, dtype=torch.float32)
    if directions.ndim == 1:
        directions = directions[None]
    if directions.shape[0] == 1:
        norm = directions.norm()
        if norm == 0:
            raise ValueError("cannot intervene along a zero direction")
        return directions / norm
    q, _ = torch.linalg.qr(directions.T)
    return q.T.contiguous()


def swap_subspace(h_base: torch.Tensor, h_source: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """``h_b + Rᵀ(R h_s − R h_b)`` for ``R`` = ``rows`` (k, d), orthonormal."""
    return h_base + (h_source @ rows.T - h_base @ rows.T) @ rows


class Subspace(nn.Module):
    """Swap the subspace spanned by fixed ``directions`` (orthonormalised on construction)."""

    rows: torch.Tensor  # a buffer: (k, d), orthonormal

    def __init__(self, directions: torch.Tensor):
        super().__init__()
        self.register_buffer("rows", orthonormal_rows(directions))

    def forward(self, h_base: torch.Tensor, h_source: torch.Tensor) -> torch.Tensor:
        return swap_subspace(h_base, h_source, self.rows.to(h_base.dtype))


class RotatedSubspace(nn.Module):
    """Swap a learned rank-``k`` subspace; ``rows`` is (k, d) with orthonormal rows at all times."""

    def __init__(self, hidden_size: int, rank: int = 1, init: torch.Tensor | None = None, seed: int | None = None):
        super().__init__()
        if not 1 <= rank <= hidden_size:
            raise ValueError(f"rank must be in 1..{hidden_size}, got {rank}")
        self.proj = nn.Linear(hidden_size, rank, bias=False)
        with torch.no_grad():
            if init is not None:
                self.proj.weight.copy_(orthonormal_rows(init))
            else:
                gen = torch.Generator().manual_seed(seed) if seed is not None else None
                self.proj.weight.copy_(orthonormal_rows(torch.randn(rank, hidden_size, generator=gen)))
        # The parametrisation completes R to a d x d orthogonal base with random rows; seed it
        # so that equal seeds give equal training trajectories.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0 if seed is None else seed)
            nn.utils.parametrizations.orthogonal(self.proj, "weight")

    @property
    def rows(self) -> torch.Tensor:
        return self.proj.weight

    def forward(self, h_base: torch.Tensor, h_source: torch.Tensor) -> torch.Tensor:
        return swap_subspace(h_base, h_source, self.rows.to(h_base.dtype))
