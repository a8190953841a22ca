"""Cause, Isolate and Disentangle, exactly as RAVEL defines them.

For a method's feature of target attribute ``A``, every evaluation example is a base prompt
(a template of some attribute ``B`` filled with an entity) whose feature was replaced by the
source's. ``hit_inv`` says the intervened output gives ``inv_label`` (the value the base
template has for the source entity); ``hit_label`` says it still gives ``label``.

* Cause(A) = mean over A's templates of the fraction of A-examples with ``hit_inv``.
* Isolate(A) = for every other attribute B, the mean over B's templates of the fraction of
  B-examples with ``hit_label``; then the mean over those attributes.
* Disentangle(A) = (Cause(A) + Isolate(A)) / 2.

Templates without examples do not enter a mean; an attribute without any example is left
out of Isolate's mean (as in the paper's scoring script). Isolate is NaN when no other
attribute has examples, and so is Disentangle.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Mapping


@dataclass(frozen=True)
class Outcome:
    """One intervened example, reduced to what the metrics need."""

    attribute: str  # the base template's attribute (B)
    template: str  # template id
    hit_inv: bool
    hit_label: bool


@dataclass
class CellScore:
    cause: float
    isolate: float
    disentangle: float
    isolate_by_attribute: dict[str, float] = field(default_factory=dict)
    n_cause: int = 0
    n_isolate: int = 0

    def as_dict(self) -> dict:
        return {
            "cause": self.cause,
            "isolate": self.isolate,
            "disentangle": self.disentangle,
            "isolate_by_attribute": dict(self.isolate_by_attribute),
            "n_cause": self.n_cause,
            "n_isolate": self.n_isolate,
        }


def _mean(values: Iterable[float]) -> float:
    vals = list(values)
    return math.fsum(vals) / len(vals) if vals else math.nan


def template_mean(outcomes: Iterable[Outcome], key: str) -> float:
    """Mean over templates of the per-template fraction of outcomes with ``key`` true."""
    per_template: dict[str, list[bool]] = defaultdict(list)
    for o in outcomes:
        per_template[o.template].append(getattr(o, key))
    return _mean(sum(v) / len(v) for v in per_template.values())


def score(outcomes: Iterable[Outcome], target: str) -> CellScore:
    """Cause / Isolate / Disentangle of one method's feature for target attribute ``target``."""
    by_attribute: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        by_attribute[o.attribute].append(o)
    cause = template_mean(by_attribute.get(target, []), "hit_inv")
    iso = {b: template_mean(v, "hit_label") for b, v in sorted(by_attribute.items()) if b != target and v}
    isolate = _mean(iso.values())
    disentangle = (cause + isolate) / 2 if not (math.isnan(cause) or math.isnan(isolate)) else math.nan
    return CellScore(
        cause=cause,
        isolate=isolate,
        disentangle=disentangle,
        isolate_by_attribute=iso,
        n_cause=len(by_attribute.get(target, [])),
        n_isolate=sum(len(v) for b, v in by_attribute.items() if b != target),
    )


def average(scores: Mapping[str, CellScore | Mapping[str, float]]) -> dict[str, float]:
    """Mean of cause/isolate/disentangle over cells (e.g. target attributes), NaNs skipped."""
    out = {}
    for key in ("cause", "isolate", "disentangle"):
        vals = [s[key] if isinstance(s, Mapping) else getattr(s, key) for s in scores.values()]
        out[key] = _mean(v for v in vals if v is not None and not math.isnan(v))
    return out
