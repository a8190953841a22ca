"""Per-group estimation: alpha-hat per time period of a corpus (the benchmark's ``estimate`` mode).

Groups are time periods of the embedded State of the Union corpus (``sotu:YEAR``; a
paragraph's id is ``<year>-<president>-<n>#<paragraph>``): one group per decade (``1790s``)
or per year, with every year from ``years_from`` on a group of its own (recent years, where
the question of LLM-written text arises). Groups come out in time order.

The estimate of one group is the plugin's plain estimator (:func:`estimate_alpha`, bootstrap
midpoint and percentile interval) on that group's sentences, plus the calibrated values when
the benchmark fitted a calibration; nothing here re-implements the method.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

import numpy as np

from harness_plugins.llm_usage.calibration import Calibration
from harness_plugins.llm_usage.mle import estimate_alpha

GROUPINGS = ("decade", "year")
_SOTU_ID = re.compile(r"^(\d{4})-[^#]*#\d+$")


def sotu_year(doc_id: str) -> int:
    """The year of a ``sotu:`` paragraph id (``2023-Biden-1#12`` -> 2023)."""
    match = _SOTU_ID.match(doc_id)
    if match is None:
        raise ValueError(f"document id {doc_id!r} is not a State of the Union paragraph id (<year>-<president>-<n>#<paragraph>); "
                         "per-group estimation groups the embedded sotu:YEAR corpus by time")
    return int(match.group(1))


def period_of(year: int, group_by: str = "decade", years_from: int | None = None) -> tuple[int, str]:
    """``(sort key, label)`` of the period holding ``year``."""
    if group_by not in GROUPINGS:
        raise ValueError(f"group_by must be one of {', '.join(GROUPINGS)}, got {group_by!r}")
    if group_by == "year" or (years_from is not None and year >= years_from):
        return year, str(year)
    start = year - year % 10
    return start, f"{start}s"


def group_documents(docs: Iterable[tuple[str, str]], group_by: str = "decade", years_from: int | None = None) -> dict[str, list[str]]:
    """Texts of ``(id, text)`` documents by period, periods in time order, and within a period
    in corpus order (address, then paragraph), whatever order the documents came in: the
    bootstrap draws by position, so a group's estimate must not depend on the reading order."""
    keyed: dict[tuple[int, str], list[tuple[str, int, str]]] = {}
    for doc_id, text in docs:
        address, _, paragraph = doc_id.partition("#")
        keyed.setdefault(period_of(sotu_year(doc_id), group_by, years_from), []).append((address, int(paragraph), text))
    return {label: [t for *_, t in sorted(keyed[(key, label)])] for key, label in sorted(keyed)}


@dataclass
class GroupEstimate:
    """One group's record, in the shape the leaderboard's groups plot reads."""

    group: str
    alpha_hat: float
    ci_low: float
    ci_high: float
    mle: float
    n_sentences: int
    n_documents: int
    n_bootstrap: int
    corrected_alpha: float | None = None
    corrected_ci_low: float | None = None
    corrected_ci_high: float | None = None

    def values(self) -> dict:
        """Per-sample values (numbers only; the group is the sample id)."""
        return {k: v for k, v in asdict(self).items() if k != "group" and v is not None}

    @classmethod
    def from_values(cls, group: str, values: dict) -> GroupEstimate:
        names = cls.__dataclass_fields__
        return cls(group=group, **{k: v for k, v in values.items() if k in names and k != "group"})


def estimate_group(group: str, d: np.ndarray, n_documents: int, n_bootstrap: int, seed: int,
                   calibration: Calibration | None) -> GroupEstimate:
    est = estimate_alpha(d, n_bootstrap=n_bootstrap, seed=seed)
    rec = GroupEstimate(group, est.alpha, est.ci_low, est.ci_high, est.mle, est.n_sentences, n_documents, est.n_bootstrap)
    if calibration is not None:
        cor = calibration.corrected(d, est, seed)
        rec.corrected_alpha, rec.corrected_ci_low, rec.corrected_ci_high = cor.alpha, cor.ci_low, cor.ci_high
    return rec


def summarise_groups(records: Sequence[GroupEstimate]) -> dict[str, float]:
    """Mean and max alpha-hat over the groups (and the same for the corrected estimate)."""
    alphas = np.array([r.alpha_hat for r in records])
    out = {"mean_alpha": float(alphas.mean()), "max_alpha": float(alphas.max())}
    if records and all(r.corrected_alpha is not None for r in records):
        out["mean_alpha_corrected"] = float(np.mean([r.corrected_alpha for r in records]))
    return out
