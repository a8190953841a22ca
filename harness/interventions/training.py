"""Train an interchange function (e.g. a DAS rotation) on a problem.

The loss is the cross-entropy of the intervened next-token distribution at each base's read
position against ``problem.targets`` (the source's label token for CausalGym). Adam, a linear
warm-up over the first ``warmup`` fraction of steps, then linear decay to zero (the schedule
of transformers' ``get_linear_schedule_with_warmup``). Mini-batches are seeded reshuffles.

:func:`train_converged` trains instead until a held-out problem's loss stops improving
(evaluated every ``eval_every`` steps; stop after ``patience`` evaluations without a gain, or at
``max_steps``), warm-up then a constant rate, and restores the best evaluated parameters.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

import torch
from torch import nn

from harness.progress import activity


class Problem(Protocol):
    targets: torch.Tensor | None

    def __len__(self) -> int: ...

    def logits(self, fn, rows: Sequence[int] | torch.Tensor | None = None) -> torch.Tensor: ...


@dataclass
class TrainConfig:
    lr: float = 5e-3
    batch_size: int = 4
    epochs: int = 1
    steps: int | None = None  # default: epochs * ceil(n / batch_size)
    warmup: float = 0.1
    seed: int = 0


@dataclass
class ConvergeConfig:
    lr: float = 5e-3
    batch_size: int = 4
    eval_every: int = 10
    patience: int = 5  # evaluations without improvement before stopping
    max_steps: int = 500
    min_delta: float = 1e-4
    warmup: int = 10  # steps of linear warm-up
    seed: int = 0


@dataclass
class TrainLog:
    losses: list[float] = field(default_factory=list)
    steps: int = 0
    heldout_losses: list[float] = field(default_factory=list)
    best_step: int = 0
    stopped: str = ""  # "patience" or "cap" (train_converged)


def cross_entropy_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over (B, V) logits / (B,) targets, or (B, k, V) / (B, k) with -100 ignored."""
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1).to(logits.device), ignore_index=-100)


def linear_warmup_decay(total: int, warmup: float) -> Callable[[int], float]:
    n_warm = int(round(total * warmup))

    def factor(step: int) -> float:
        if step < n_warm:
            return (step + 1) / n_warm
        return max(0.0, (total - step) / max(1, total - n_warm))

    return factor


def batches(n: int, cfg: TrainConfig) -> list[list[int]]:
    """The row indices of every training step (seeded reshuffle per epoch)."""
    rng = random.Random(cfg.seed)
    per_epoch = math.ceil(n / cfg.batch_size)
    total = cfg.steps if cfg.steps is not None else cfg.epochs * per_epoch
    out: list[list[int]] = []
    order: list[int] = []
    while len(out) < total:
        if not order:
            order = list(range(n))
            rng.shuffle(order)
        out.append(order[: cfg.batch_size])
        order = order[cfg.batch_size:]
    return out


def _step(problem: Problem, module: nn.Module, rows: Sequence[int], opt, sched, loss_fn) -> float:
    """One optimisation step on ``rows``; returns its loss."""
    if problem.targets is None:
        raise ValueError("a training problem needs targets (the token ids to predict)")
    rows_t = torch.tensor(rows, dtype=torch.long)
    loss = loss_fn(problem.logits(module, rows_t), problem.targets[rows_t])
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    sched.step()
    return float(loss.detach())


def train(problem: Problem, module: nn.Module, cfg: TrainConfig | None = None,
          loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = cross_entropy_loss) -> TrainLog:
    """Fit ``module``'s parameters so that intervened outputs match ``problem.targets``."""
    cfg = cfg or TrainConfig()
    if problem.targets is None:
        raise ValueError("training needs problem.targets (one target token per example)")
    params = [p for p in module.parameters() if p.requires_grad]
    if not params:
        raise ValueError(f"{type(module).__name__} has no trainable parameters")
    steps = batches(len(problem), cfg)
    opt = torch.optim.Adam(params, lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, linear_warmup_decay(len(steps), cfg.warmup))
    log = TrainLog()
    module.train()
    for i, rows in enumerate(steps, start=1):
        activity(f"training {type(module).__name__}: step {i}/{len(steps)}")
        log.losses.append(_step(problem, module, rows, opt, sched, loss_fn))
    log.steps = len(steps)
    module.eval()
    return log


def train_converged(problem: Problem, module: nn.Module, heldout: Problem, cfg: ConvergeConfig | None = None,
                    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = cross_entropy_loss) -> TrainLog:
    """Fit ``module`` on ``problem`` until ``heldout``'s loss stops improving (module docstring)."""
    import copy

    cfg = cfg or ConvergeConfig()
    if problem.targets is None or heldout.targets is None:
        raise ValueError("training needs targets on both the training and the held-out problem")
    params = [p for p in module.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min(1.0, (step + 1) / max(1, cfg.warmup)))
    steps = batches(len(problem), TrainConfig(batch_size=cfg.batch_size, steps=cfg.max_steps, seed=cfg.seed))
    log, best, best_state, bad = TrainLog(), float("inf"), copy.deepcopy(module.state_dict()), 0
    log.stopped = "cap"
    for i, rows in enumerate(steps, start=1):
        activity(f"training {type(module).__name__} to convergence: step {i} (cap {len(steps)})")
        module.train()
        log.losses.append(_step(problem, module, rows, opt, sched, loss_fn))
        log.steps = i
        if i % cfg.eval_every == 0 or i == len(steps):
            module.eval()
            with torch.no_grad():
                held = float(loss_fn(heldout.logits(module), heldout.targets))
            log.heldout_losses.append(held)
            if held < best - cfg.min_delta:
                best, best_state, log.best_step, bad = held, copy.deepcopy(module.state_dict()), i, 0
            else:
                bad += 1
                if bad >= cfg.patience:
                    log.stopped = "patience"
                    break
    module.load_state_dict(best_state)
    module.eval()
    return log
