"""RLAP: R-LACE's adversarial rank-k linear concept erasure (Ravfogel et al., ICML 2022), as
RAVEL uses it (the removed rank-k subspace is the attribute's feature; the intervention swaps it).

The minimax game, over the Fantope relaxation of rank-k orthogonal projections
F_k = {A : 0 <= A <= I, tr A = k}:

    max_{A in F_k}  min_theta  CE( theta, X (I - A) )

A linear multinomial classifier ``theta`` and ``A`` take alternating Adam steps (the classifier
descends, ``A`` ascends the same cross-entropy); after every ``A`` step it is projected back onto
F_k (eigenvalues shifted by the gamma with sum clip(lambda - gamma, 0, 1) = k, found by
bisection). Every ``eval_every`` steps the candidate's rank-k projection (top-k eigenvectors
of ``A``) is judged by a freshly fitted logistic-regression probe; the candidate whose probe
accuracy comes closest to the majority-class rate is kept (R-LACE keeps the iterate whose
adversary loss is closest to the majority's; a fresh probe judges the rank-k projection that is
actually used, not its relaxation, and cannot be fooled by an under-trained adversary).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class RLAPConfig:
    rank: int = 8
    steps: int = 600  # projection steps (each after clf_steps classifier steps)
    lr: float = 3e-3
    batch_size: int = 256
    eval_every: int = 100
    warmup: int = 200  # classifier steps on the unprojected data first
    clf_steps: int = 5  # classifier steps per projection step (the adversary keeps up)
    proj_lr: float = 0.05  # plain SGD on A (momentum would fight the Fantope projection)
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
        opt_A = torch.optim.SGD([A], lr=cfg.proj_lr)
        majority = float(torch.bincount(y_t).max()) / n
        eye = torch.eye(d)

        def step_clf(A_now: torch.Tensor) -> None:
            rows = torch.randint(0, n, (min(cfg.batch_size, n),), generator=gen)
            loss = torch.nn.functional.cross_entropy(clf(X_t[rows] @ (eye - A_now)), y_t[rows])
            opt_clf.zero_grad(set_to_none=True)
            loss.backward()
            opt_clf.step()

        for _ in range(cfg.warmup):
            step_clf(torch.zeros(d, d))
        with torch.no_grad():
            A.copy_(fantope_project(A, k))
        best, best_gap = None, math.inf
        self.accuracies_: list[float] = []
        for step in range(cfg.steps):
            for _ in range(cfg.clf_steps):
                step_clf(A.detach())
            rows = torch.randint(0, n, (min(cfg.batch_size, n),), generator=gen)
            adv = -torch.nn.functional.cross_entropy(clf(X_t[rows] @ (eye - A)), y_t[rows])
            opt_A.zero_grad(set_to_none=True)
            adv.backward()
            opt_A.step()
            with torch.no_grad():
                A.copy_(fantope_project(A, k))
            if (step + 1) % cfg.eval_every == 0 or step == cfg.steps - 1:
                W = _top(A.detach(), k)
                acc = _probe_accuracy(X_t.numpy() - (X_t.numpy() @ W.T) @ W, y_idx, cfg.seed)
                self.accuracies_.append(acc)
                if abs(acc - majority) < best_gap:
                    best_gap, best = abs(acc - majority), W
        self.components_ = best
        self.majority_, self.best_gap_ = majority, best_gap
        return self

    def project_out(self, X: np.ndarray) -> np.ndarray:
        """X with the learned rank-k subspace removed (what the erasure test probes)."""
        W = self.components_
        return np.asarray(X) - (np.asarray(X) @ W.T) @ W


def _top(A: torch.Tensor, k: int) -> np.ndarray:
    lam, U = torch.linalg.eigh((A + A.T) / 2)
    return U[:, torch.argsort(lam, descending=True)[:k]].T.contiguous().numpy().astype(np.float64)


def _probe_accuracy(X: np.ndarray, y: np.ndarray, seed: int) -> float:
    """Held-out accuracy of a logistic-regression probe (half to fit, half to score)."""
    from sklearn.linear_model import LogisticRegression

    order = np.random.default_rng(seed).permutation(len(y))
    fit, test = order[: len(y) // 2], order[len(y) // 2:]
    if len(np.unique(y[fit])) < 2:
        return 1.0
    return float(LogisticRegression(max_iter=500).fit(X[fit], y[fit]).score(X[test], y[test]))
