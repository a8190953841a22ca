"""Methods trained with interventions: DBM (learned mask), DAS and MDAS (learned rotation).

All are fit by the same loop on the engine's ``CachedProblem`` with (B, k) reads:
cross-entropy of the intervened outputs against target tokens with teacher forcing over all
(up to 3) target tokens, AdamW without weight decay at a constant learning rate (RAVEL's
training script), mini-batches from seeded reshuffles (:func:`harness.interventions.training.batches`).

* DAS: ``RotatedSubspace`` of rank k from the shared engine; trained on *cause* examples of
  the target attribute (target = ``inv_label``'s tokens).
* MDAS: the same module trained on cause examples of A and, at once, *isolate* examples of
  every other attribute (target = ``label``'s tokens: the intervention must not change them).
* DBM: a mask m over the d dimensions, h' = (1 - s) * h_b + s * h_s with s = sigmoid(m / T);
  T is annealed geometrically from ``t_start`` to ``t_end`` over training and the loss adds
  ``l1 * ||s||_1``. At evaluation the mask is binary (s > 0.5), i.e. the selected
  dimensions are swapped exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from harness.interventions.training import TrainConfig, batches
from harness.progress import activity
from harness_plugins.ravel.engine_ext import IGNORE


class BinaryMask(nn.Module):
    """Differentiable binary mask over hidden dimensions (DBM)."""

    def __init__(self, hidden_size: int, t_start: float = 1.0, t_end: float = 0.01):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(hidden_size))
        self.t_start, self.t_end = t_start, t_end
        self.register_buffer("temperature", torch.tensor(float(t_start)))

    def anneal(self, progress: float) -> None:
        """Set T for ``progress`` in [0, 1] (geometric from t_start to t_end)."""
        p = min(max(progress, 0.0), 1.0)
        self.temperature.fill_(self.t_start * (self.t_end / self.t_start) ** p)

    def soft(self) -> torch.Tensor:
        return torch.sigmoid(self.logits / self.temperature)

    def penalty(self) -> torch.Tensor:
        return self.soft().sum()

    @property
    def selected(self) -> torch.Tensor:
        return torch.nonzero(self.logits > 0).flatten()

    def forward(self, h_base: torch.Tensor, h_source: torch.Tensor) -> torch.Tensor:
        s = self.soft() if self.training else (self.logits > 0).to(h_base.dtype)
        return h_base + s.to(h_base.dtype) * (h_source - h_base)


@dataclass
class FitConfig:
    lr: float = 2e-3
    batch_size: int = 16
    steps: int = 200
    l1: float = 0.0  # DBM only: weight of ||sigmoid(m / T)||_1
    seed: int = 0


@dataclass
class FitLog:
    losses: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)  # teacher-forced token accuracy per step


def multi_token_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over non-padding target tokens; logits (B, k, V), targets (B, k)."""
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1).to(logits.device), ignore_index=IGNORE)


def fit(problem: Any, module: nn.Module, cfg: FitConfig) -> FitLog:
    """Train ``module`` on ``problem`` (targets per example); returns the loss curve."""
    params = [p for p in module.parameters() if p.requires_grad]
    if not params:
        raise ValueError(f"{type(module).__name__} has no trainable parameters")
    steps = batches(len(problem), TrainConfig(batch_size=cfg.batch_size, steps=cfg.steps, seed=cfg.seed))
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
    log = FitLog()
    module.train()
    for i, rows in enumerate(steps):
        activity(f"training {type(module).__name__}: step {i + 1}/{len(steps)}")
        if isinstance(module, BinaryMask):
            module.anneal(i / max(1, len(steps) - 1))
        rows_t = torch.tensor(rows, dtype=torch.long)
        logits = problem.logits(module, rows_t)
        targets = problem.targets[rows_t]
        loss = multi_token_loss(logits, targets)
        if cfg.l1 and isinstance(module, BinaryMask):
            loss = loss + cfg.l1 * module.penalty()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            keep = targets != IGNORE
            acc = (logits.argmax(-1).cpu()[keep] == targets[keep]).float().mean()
        log.losses.append(float(loss.detach()))
        log.accuracy.append(float(acc) if not math.isnan(float(acc)) else 0.0)
    module.eval()
    return log
