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
out of Isolate's mean (as in the paper's scoring script), but never silently: with the
instance's ``attributes`` given, :class:`CellScore` lists which attributes Isolate averaged
and, under ``missing``, every term that had no examples and why. A missing term is NaN and is
reported as missing by every average (:func:`average`), never averaged as if present.
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
    isolate_attributes: list[str] = field(default_factory=list)  # what Isolate averaged
    missing: dict[str, str] = field(default_factory=dict)  # "cause" / "isolate:<B>" -> reason

    def as_dict(self) -> dict:
        return {
            "isolate_attributes": list(self.isolate_attributes),
            "missing": dict(self.missing),
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


def score(outcomes: Iterable[Outcome], target: str, attributes: Iterable[str] = (),
          dropped: Mapping[str, int] | None = None) -> CellScore:
    """Cause / Isolate / Disentangle of one method's feature for target attribute ``target``.

    ``attributes``: every attribute the split should cover (to name missing terms);
    ``dropped``: attribute -> examples the matching rule dropped (to give the reason).
    """
    by_attribute: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        by_attribute[o.attribute].append(o)
    dropped = dict(dropped or {})
    missing: dict[str, str] = {}
    for a in dict.fromkeys([target, *attributes]):
        if not by_attribute.get(a):
            why = (f"all {dropped[a]} examples dropped: the rule cannot tell their base and source values apart"
                   if dropped.get(a) else "no examples (the model knows no pair of this attribute here)")
            missing["cause" if a == target else f"isolate:{a}"] = why
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
        isolate_attributes=list(iso),
        missing=missing,
    )


def average(scores: Mapping[str, CellScore | Mapping[str, float]], coverage: dict | None = None) -> dict[str, float]:
    """Mean of cause/isolate/disentangle over cells (e.g. target attributes or splits).

    Missing (NaN) cells cannot enter a mean; with ``coverage`` (a dict) given, it receives
    ``{metric: {"averaged": [cells], "missing": [cells]}}`` so the gap is reported.
    """
    out = {}
    for key in ("cause", "isolate", "disentangle"):
        present, absent = [], []
        for name, s in scores.items():
            v = s.get(key) if isinstance(s, Mapping) else getattr(s, key)
            (absent if v is None or math.isnan(v) else present).append((name, v))
        out[key] = _mean(v for _, v in present)
        if coverage is not None:
            coverage[key] = {"averaged": [n for n, _ in present], "missing": [n for n, _ in absent]}
    return out


def saebench_pair(cells: Mapping[str, CellScore | Mapping], a: str, b: str) -> float:
    """SAEBench's two-attribute RAVEL score: for each of attributes ``a``, ``b`` the mean of its
    Cause and its Isolate measured on the *other* attribute only, then the mean of the two.
    ``cells`` maps a target attribute to its score (``isolate_by_attribute`` needed)."""
    def part(x: str, y: str) -> float:
        c = cells[x]
        cause = c["cause"] if isinstance(c, Mapping) else c.cause
        iso = (c["isolate_by_attribute"] if isinstance(c, Mapping) else c.isolate_by_attribute).get(y, math.nan)
        return (cause + iso) / 2

    if a not in cells or b not in cells:
        return math.nan
    return (part(a, b) + part(b, a)) / 2
