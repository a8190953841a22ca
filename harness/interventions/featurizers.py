"""Featurizers: estimators that find the direction(s) an interchange intervention swaps.

All share one shape (scikit-learn style)::

    feat = make_featurizer("probe", ctx.registry).fit(X, y)   # X: (n, d) activations, y: (n,) 0/1 labels
    feat.components_                               # (k, d), orthonormal rows
    feat.transform(X)                              # (n, k) coordinates
    feat.intervention()                            # a Subspace module for the engine

DAS needs the model in the loop, so its ``fit`` also takes ``problem=`` (an interchange problem
with targets, :mod:`harness.interventions.problem`) and learns the rotation by gradient
descent; ``X``/``y`` only fix the dimension there. A featurizer's direction is only defined up
to sign, which a subspace swap ignores. Featurizers are looked up by name in a
:class:`~harness.registry.Registry`; plugins add their own through ``harness_register_featurizers``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from harness.interventions.functions import Subspace, orthonormal_rows
from harness.registry import Registry

if TYPE_CHECKING:  # pragma: no cover - typing only
    from typing_extensions import Self

    from harness.interventions.training import TrainLog


class Featurizer:
    """Base class: subclasses set ``components_`` in :meth:`fit`."""

    name = "featurizer"
    components_: np.ndarray

    def fit(self, X: Any, y: Any, **fit_params: Any) -> Self:
        raise NotImplementedError

    def transform(self, X: Any) -> np.ndarray:
        return _array(X) @ self.components_.T

    def intervention(self) -> Subspace:
        import torch

        return Subspace(torch.as_tensor(self.components_, dtype=torch.float32))

    def _set(self, directions: np.ndarray) -> Self:
        import torch

        rows = orthonormal_rows(torch.as_tensor(np.atleast_2d(directions), dtype=torch.float32))
        self.components_ = rows.numpy().astype(np.float64)
        return self


def _array(X: Any) -> np.ndarray:
    if hasattr(X, "detach"):
        X = X.detach().cpu().numpy()
    return np.asarray(X, dtype=np.float64)


def _labels(y: Any) -> np.ndarray:
    y = np.asarray(y.detach().cpu().numpy() if hasattr(y, "detach") else y).reshape(-1)
    classes = np.unique(y)
    if len(classes) != 2:
        raise ValueError(f"featurizers need exactly two label classes, got {len(classes)}: {classes[:5]}")
    return (y == classes[1]).astype(int)


class MeanDifference(Featurizer):
    """Difference of the two class means."""

    name = "mean"

    def fit(self, X: Any, y: Any, **fit_params: Any) -> Self:
        X, y = _array(X), _labels(y)
        return self._set(X[y == 1].mean(0) - X[y == 0].mean(0))


class PCAFeaturizer(Featurizer):
    """First principal component(s) of the activations (labels unused)."""

    name = "pca"

    def __init__(self, rank: int = 1):
        self.rank = rank

    def fit(self, X: Any, y: Any = None, **fit_params: Any) -> Self:
        from sklearn.decomposition import PCA

        return self._set(PCA(n_components=self.rank).fit(_array(X)).components_)


class KMeansFeaturizer(Featurizer):
    """Difference of the two k-means centroids (labels unused)."""

    name = "kmeans"

    def __init__(self, seed: int = 0, n_init: int = 10):
        self.seed, self.n_init = seed, n_init

    def fit(self, X: Any, y: Any = None, **fit_params: Any) -> Self:
        from sklearn.cluster import KMeans

        km = KMeans(n_clusters=2, n_init=self.n_init, random_state=self.seed).fit(_array(X))
        return self._set(km.cluster_centers_[1] - km.cluster_centers_[0])


class LDAFeaturizer(Featurizer):
    """Linear discriminant analysis direction (scikit-learn's default SVD solver).

    When the classes have no within-class variance at all (e.g. every example has the same
    token and prefix at the position), LDA is undefined; its ridge-regularised limit, the
    difference of the class means, is used instead and ``degenerate_`` is set.
    """

    name = "lda"

    def fit(self, X: Any, y: Any, **fit_params: Any) -> Self:
        from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

        X, y = _array(X), _labels(y)
        within = np.concatenate([X[y == c] - X[y == c].mean(0) for c in (0, 1)])
        self.degenerate_ = bool(np.abs(within).max() <= 1e-6 * max(np.abs(X).max(), 1e-12))
        if self.degenerate_:
            return self._set(X[y == 1].mean(0) - X[y == 0].mean(0))
        return self._set(LinearDiscriminantAnalysis().fit(X, y).coef_[0])


class ProbeFeaturizer(Featurizer):
    """Weight vector of an L2-regularised logistic-regression probe."""

    name = "probe"

    def __init__(self, C: float = 1.0, max_iter: int = 1000):
        self.C, self.max_iter = C, max_iter

    def fit(self, X: Any, y: Any, **fit_params: Any) -> Self:
        from sklearn.linear_model import LogisticRegression

        clf = LogisticRegression(C=self.C, max_iter=self.max_iter).fit(_array(X), _labels(y))
        return self._set(clf.coef_[0])


class RandomFeaturizer(Featurizer):
    """A random Gaussian direction (the baseline); ignores the data except its width."""

    name = "random"

    def __init__(self, seed: int = 0, rank: int = 1):
        self.seed, self.rank = seed, rank

    def fit(self, X: Any, y: Any = None, **fit_params: Any) -> Self:
        d = _array(X).shape[1]
        return self._set(np.random.default_rng(self.seed).standard_normal((self.rank, d)))


class DASFeaturizer(Featurizer):
    """Distributed alignment search: a rank-k rotation trained through the model.

    ``fit(X, y, problem=...)`` trains :class:`~harness.interventions.functions.RotatedSubspace`
    with :func:`harness.interventions.training.train` on ``problem`` (cross-entropy of the
    intervened output against ``problem.targets``).
    """

    name = "das"

    def __init__(self, rank: int = 1, seed: int = 0, **train_kwargs: Any):
        self.rank, self.seed, self.train_kwargs = rank, seed, train_kwargs
        self.log_: TrainLog | None = None

    def fit(self, X: Any, y: Any = None, problem: Any = None, **fit_params: Any) -> Self:
        if problem is None:
            raise ValueError("DASFeaturizer.fit needs problem= (an interchange problem with targets) to train through the model")
        from harness.interventions.functions import RotatedSubspace
        from harness.interventions.training import TrainConfig, train

        d = _array(X).shape[1] if X is not None else problem.source_states.shape[-1]
        module = RotatedSubspace(d, self.rank, seed=self.seed)
        self.log_ = train(problem, module, TrainConfig(seed=self.seed, **self.train_kwargs))
        self.components_ = module.rows.detach().cpu().numpy().astype(np.float64)
        return self


def make_featurizer(name: str, registry: Registry | None = None, **kwargs: Any) -> Featurizer:
    """The featurizer registered as ``name`` (through ``harness_register_featurizers``), built
    with ``kwargs``. ``registry`` is the run's (``ctx.registry``); without one, the core's
    generic featurizers (``das``, ``probe``, ``mean``, ``pca``, ``kmeans``, ``lda``, ``random``)."""
    specs = (registry if registry is not None else core_registry()).featurizers
    if name not in specs:
        raise KeyError(f"unknown featurizer {name!r}; registered: {', '.join(sorted(specs)) or 'none'}")
    return specs[name].load()(**kwargs)


def core_registry() -> Registry:
    """A registry holding only the core's generic featurizers (no plugin is loaded)."""
    from harness import featurizers_plugin

    return Registry(featurizers={s.name: s for s in featurizers_plugin.harness_register_featurizers()})
