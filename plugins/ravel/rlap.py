"""RLAP: R-LACE's adversarial rank-k linear concept erasure (Ravfogel et al., ICML 2022), as
RAVEL uses it (the removed rank-k subspace is the attribute's feature; the intervention swaps it).

The minimax game, over the Fantope relaxation of rank-k orthogonal projections
F_k = {A : 0 <= A <= I, tr A = k}:

    max_{A in F_k}  min_theta  CE( theta, X (I - A) )

A linear multinomial classifier ``theta`` and ``A`` take alternating Adam steps (the classifier
descends, ``A`` ascends the same cross-entropy); after every ``A`` step it is projected back onto
F_k (eigenvalues shifted by the gamma with sum clip(lambda - gamma, 0, 1) = k, found by
bisection). The ``A`` whose classifier loss came closest to the loss of always predicting the
class prior is kept, and its top-k eigenvectors are the removed directions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class RLAPConfig:
    rank: int = 8
    steps: int = 1500  # alternating (classifier, projection) steps
    lr: float = 3e-3
    batch_size: int = 256
    seed: int = 0


def fantope_project(A: torch.Tensor, k: int) -> torch.Tensor:
    """Euclidean projection of a symmetric matrix onto {0 <= A <= I, tr A = k}."""
    A = (A + A.T) / 2
    lam, U = torch.linalg.eigh(A)
    lo, hi = float(lam.min()) - 1.0, float(lam.max())
    for _ in range(60):
        mid = (lo + hi) / 2
        if float((lam - mid).clamp(0, 1).sum()) > k:
            lo = mid
        else:
            hi = mid
    lam = (lam - (lo + hi) / 2).clamp(0, 1)
    return (U * lam) @ U.T


class RLAP:
    """``fit(X, y)`` learns ``components_`` (k, d): the directions whose removal hides ``y`` linearly."""

    def __init__(self, config: RLAPConfig | None = None):
        self.config = config or RLAPConfig()

    def fit(self, X: np.ndarray, y) -> RLAP:
        cfg = self.config
        X_t = torch.as_tensor(np.asarray(X), dtype=torch.float32)
        X_t = X_t - X_t.mean(0)
        classes, y_idx = np.unique(np.asarray(y), return_inverse=True)
        y_t = torch.as_tensor(y_idx, dtype=torch.long)
        n, d = X_t.shape
        k = min(cfg.rank, d)
        gen = torch.Generator().manual_seed(cfg.seed)
        torch.manual_seed(cfg.seed)
        clf = torch.nn.Linear(d, len(classes))
        A = torch.zeros(d, d, requires_grad=True)
        opt_clf = torch.optim.Adam(clf.parameters(), lr=cfg.lr)
        opt_A = torch.optim.Adam([A], lr=cfg.lr)
        prior = torch.bincount(y_t, minlength=len(classes)).float() / n
        target_loss = float(-(prior * prior.clamp_min(1e-12).log()).sum())  # entropy of the prior
        best, best_gap, self.losses_ = A.detach().clone(), math.inf, []
        eye = torch.eye(d)
        for step in range(cfg.steps):
            rows = torch.randint(0, n, (min(cfg.batch_size, n),), generator=gen)
            xb, yb = X_t[rows], y_t[rows]
            loss = torch.nn.functional.cross_entropy(clf(xb @ (eye - A.detach())), yb)
            opt_clf.zero_grad(set_to_none=True)
            loss.backward()
            opt_clf.step()
            adv = -torch.nn.functional.cross_entropy(clf(xb @ (eye - A)), yb)
            opt_A.zero_grad(set_to_none=True)
            adv.backward()
            opt_A.step()
            with torch.no_grad():
                A.copy_(fantope_project(A, k))
                full = float(torch.nn.functional.cross_entropy(clf(X_t @ (eye - A)), y_t)) if step % 25 == 24 else None
            if full is not None:
                self.losses_.append(full)
                if abs(full - target_loss) < best_gap:
                    best_gap, best = abs(full - target_loss), A.detach().clone()
        lam, U = torch.linalg.eigh((best + best.T) / 2)
        self.components_ = U[:, torch.argsort(lam, descending=True)[:k]].T.contiguous().numpy()
        self.prior_loss_, self.best_gap_ = target_loss, best_gap
        return self

    def project_out(self, X: np.ndarray) -> np.ndarray:
        """X with the learned rank-k subspace removed (what the erasure test probes)."""
        W = self.components_
        return np.asarray(X) - (np.asarray(X) @ W.T) @ W
