"""RLAP on a synthetic concept spread over several directions: erased by RLAP, not by one direction."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from harness_plugins.ravel.rlap import RLAP, RLAPConfig, fantope_project


def _concept(n=1200, d=16, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.standard_normal((d, d)))[0][: classes - 1]  # the concept's 3 directions
    means = 3.0 * rng.standard_normal((classes, classes - 1)) @ basis
    y = rng.integers(0, classes, n)
    X = means[y] + rng.standard_normal((n, d))
    return X, y, means


def _probe_accuracy(X, y):
    half = len(y) // 2
    clf = LogisticRegression(max_iter=2000).fit(X[:half], y[:half])
    return clf.score(X[half:], y[half:])


def test_rlap_erases_a_concept_that_one_mean_difference_direction_does_not():
    X, y, means = _concept()
    chance = np.bincount(y).max() / len(y)
    assert _probe_accuracy(X, y) > 0.9
    # the single mean-difference direction (the top principal direction of the class means)
    centred = means - means.mean(0)
    u = np.linalg.svd(centred)[2][0]
    one_removed = X - np.outer(X @ u, u)
    assert _probe_accuracy(one_removed, y) > chance + 0.25
    rlap = RLAP(RLAPConfig(rank=3, seed=0)).fit(X, y)
    assert rlap.components_.shape == (3, 16)
    np.testing.assert_allclose(rlap.components_ @ rlap.components_.T, np.eye(3), atol=1e-5)
    assert _probe_accuracy(rlap.project_out(X), y) < chance + 0.08


def test_fantope_projection_has_the_right_trace_and_spectrum():
    A = torch.randn(10, 10)
    P = fantope_project(A @ A.T, 3)
    lam = torch.linalg.eigvalsh(P)
    assert abs(float(P.trace()) - 3) < 1e-4 and float(lam.min()) > -1e-5 and float(lam.max()) < 1 + 1e-5
    Q = torch.zeros(10, 10)
    Q[:3, :3] = torch.eye(3)
    torch.testing.assert_close(fantope_project(Q, 3), Q, atol=1e-5, rtol=0)  # already a rank-3 projection
