"""A featurizer: the difference of the two class medians (a mean difference robust to outliers)."""

from __future__ import annotations

import numpy as np

from harness.interventions.featurizers import Featurizer


class MedianDifference(Featurizer):
    name = "median"

    def fit(self, X, y, **fit_params) -> "MedianDifference":
        X = np.asarray(X.detach().cpu().numpy() if hasattr(X, "detach") else X, dtype=np.float64)
        y = np.asarray(y.detach().cpu().numpy() if hasattr(y, "detach") else y).reshape(-1)
        classes = np.unique(y)
        if len(classes) != 2:
            raise ValueError(f"the median featurizer needs two label classes, got {len(classes)}")
        return self._set(np.median(X[y == classes[1]], axis=0) - np.median(X[y == classes[0]], axis=0))
