"""DAS training options (task YAML ``das:``): the one place their defaults are written.

The README, the benchmark and the sweep all read these; ``converge: false`` switches from
training to convergence on held-out training pairs to the paper's fixed schedule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from harness.options import bind, options_of


@dataclass(frozen=True)
class DASOptions:
    """Adam on a rank-``rank`` rotation; to convergence (``converge``) or for a fixed schedule."""

    lr: float = 5e-3
    batch_size: int = 4
    rank: int = 1
    converge: bool = True  # train to convergence on a held-out slice of the training pairs
    heldout: float = 0.2  # share of the training pairs held out (converge)
    patience: int = 5  # evaluations without improvement before stopping (converge)
    eval_every: int = 10  # steps between held-out evaluations (converge)
    max_steps: int = 500  # cap (converge)
    epochs: int = 1  # passes over the training pairs (fixed schedule)
    steps: int | None = None  # fixed step count instead of epochs (fixed schedule)
    warmup: float = 0.1  # share of the steps spent warming up (fixed schedule)

    @classmethod
    def from_args(cls, das: Mapping[str, Any] | None) -> DASOptions:
        """The task YAML's ``das:`` mapping, typed; an unknown key is an error naming the known ones."""
        options = options_of(cls)
        bad = set(das or {}) - set(options.fields)
        if bad:
            raise ValueError(f"unknown das option(s) {sorted(bad)}; known: {options.names()}")
        return cls(**bind(options, dict(das or {}), "das:", "CausalGym's DAS options"))
