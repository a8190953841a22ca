"""The core's generic featurizers, registered through ``harness_register_featurizers`` like a
plugin's (this module stays light: the estimators are imported when one is built)."""

from __future__ import annotations

from harness.hookspecs import hookimpl
from harness.registry import FeaturizerSpec

HARNESS_API_VERSION = "2.0"

_MODULE = "harness.interventions.featurizers"


@hookimpl
def harness_register_featurizers() -> list[FeaturizerSpec]:
    return [
        FeaturizerSpec("das", f"{_MODULE}:DASFeaturizer", "distributed alignment search: a rank-k rotation trained through the model"),
        FeaturizerSpec("probe", f"{_MODULE}:ProbeFeaturizer", "weight vector of an L2-regularised logistic-regression probe"),
        FeaturizerSpec("mean", f"{_MODULE}:MeanDifference", "difference of the two class means"),
        FeaturizerSpec("pca", f"{_MODULE}:PCAFeaturizer", "first principal component(s), labels unused"),
        FeaturizerSpec("kmeans", f"{_MODULE}:KMeansFeaturizer", "difference of the two k-means centroids, labels unused"),
        FeaturizerSpec("lda", f"{_MODULE}:LDAFeaturizer", "linear discriminant analysis direction"),
        FeaturizerSpec("random", f"{_MODULE}:RandomFeaturizer", "a random Gaussian direction (the baseline)"),
    ]
