"""What a model adapter can do, declared up front so the runner can refuse a task before any
data is loaded (no torch import here: ``harness list`` and ``--help`` read it)."""

from __future__ import annotations

import enum
from typing import Iterable


class Capability(str, enum.Enum):
    """One thing a benchmark may ask of an adapter."""

    SCORING = "scoring"  # loglikelihood / loglikelihood_rolling
    GENERATION = "generation"  # generate
    SITE_READ = "site_read"  # residual / MLP states at named sites
    SITE_EDIT = "site_edit"  # edit those states during a forward (or a generation)
    GRAD_INTERVENTIONS = "grad_interventions"  # gradients flow through an edit (DAS, masks)
    WEIGHT_EDITS = "weight_edits"  # temporary weight changes (ROME, MEMIT, FT)
    CACHED_RERUN = "cached_rerun"  # the interchange engine's partial re-run from a site

    def __str__(self) -> str:
        return self.value


BLACK_BOX = frozenset({Capability.SCORING, Capability.GENERATION})
WHITE_BOX = frozenset(Capability)


class MissingCapability(RuntimeError):
    """A task needs something its adapter does not declare."""


def missing(needed: Iterable[Capability], offered: Iterable[Capability]) -> list[str]:
    """Names of the capabilities in ``needed`` that ``offered`` lacks, sorted."""
    have = {Capability(c) for c in offered}
    return sorted(str(Capability(c)) for c in needed if Capability(c) not in have)


def check(task: str, needed: Iterable[Capability], adapter: object) -> None:
    """Raise :class:`MissingCapability` naming the task, the adapter and what is missing."""
    offered = getattr(adapter, "capabilities", BLACK_BOX)
    lacking = missing(needed, offered)
    if lacking:
        name = getattr(adapter, "name", type(adapter).__name__)
        raise MissingCapability(
            f"task {task!r} needs {', '.join(lacking)}, which model adapter {name!r} "
            f"({type(adapter).__name__}) does not offer (it offers: {', '.join(sorted(map(str, offered))) or 'nothing'})")
