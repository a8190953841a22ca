"""Bring-your-own featurizer: a ``module:factory`` that returns (featurizer, inverse, indices).

The shape of a MIB causal-variable submission: ``featurizer(h) -> features`` (or
``(features, error)``), ``inverse(features[, error]) -> h``, and the indices of the features
that hold the variable. The intervention swaps those features::

    f_b, e_b = featurizer(h_base); f_s, _ = featurizer(h_source)
    f_b[:, indices] = f_s[:, indices];  h' = inverse(f_b, e_b)

``factory(X, y, hidden_size=d, seed=s, **options)`` gets the training activations ``X`` (n, d)
and their labels ``y`` (attribute values in RAVEL, 0/1 types in CausalGym).
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Sequence

import torch
from torch import nn


def load_factory(spec: str) -> Callable[..., Any]:
    """``"package.module:factory"`` -> the callable (errors name the spec)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"featurizer {spec!r}: expected 'module:factory'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"featurizer {spec!r}: cannot import {module_name!r} ({err})") from err
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ValueError(f"featurizer {spec!r}: {module_name} has no {attr!r}") from None


class FeatureSwap(nn.Module):
    """Swap ``indices`` of ``featurizer``'s features of the source into the base's."""

    def __init__(self, featurizer: Callable, inverse: Callable, indices: Sequence[int]):
        super().__init__()
        self.featurizer, self.inverse = featurizer, inverse  # nn.Modules register as children
        self.register_buffer("indices", torch.as_tensor(list(indices), dtype=torch.long))

    def forward(self, h_base: torch.Tensor, h_source: torch.Tensor) -> torch.Tensor:
        fb, fs = self.featurizer(h_base), self.featurizer(h_source)
        err = None
        if isinstance(fb, tuple):
            (fb, err), fs = fb, fs[0]
        idx = self.indices.to(fb.device)
        fb = fb.clone()
        fb[:, idx] = fs[:, idx].to(fb.dtype)
        out = self.inverse(fb) if err is None else self.inverse(fb, err)
        return out.to(h_base.dtype)


def fit_external(spec: str, X: Any, y: Any, hidden_size: int, seed: int = 0, **options: Any) -> FeatureSwap:
    """Call the factory and wrap what it returns; checks the returned shape."""
    out = load_factory(spec)(X, y, hidden_size=hidden_size, seed=seed, **options)
    if not (isinstance(out, tuple) and len(out) == 3):
        raise TypeError(f"featurizer {spec!r} must return (featurizer, inverse, indices), got {type(out).__name__}")
    return FeatureSwap(*out)
