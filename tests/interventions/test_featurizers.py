"""Featurizers recover planted directions; DAS trains through a real (tiny) model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.interventions import (
    CachedProblem,
    InterchangeEngine,
    RotatedSubspace,
    Subspace,
    TokenBatch,
    TrainConfig,
    make_featurizer,
    train,
)
from harness.interventions.training import batches, linear_warmup_decay
from harness.testing import tiny_model


def planted(n=400, d=16, seed=0):
    """Two classes separated along ``axis``, with the largest variance along another axis."""
    rng = np.random.default_rng(seed)
    axis = np.zeros(d)
    axis[3] = 1.0
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, d)) * 0.3
    X[:, 7] *= 10  # a high-variance nuisance direction
    X += np.outer(2 * y - 1, axis) * 2.0
    return X, y, axis


def cos(a, b):
    return abs(float(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b)))


@pytest.mark.parametrize("name", ["mean", "probe", "lda"])
def test_supervised_featurizers_find_the_class_direction(name):
    X, y, axis = planted()
    feat = make_featurizer(name).fit(X, y)
    assert feat.components_.shape == (1, 16)
    assert np.isclose(np.linalg.norm(feat.components_[0]), 1.0)
    assert cos(feat.components_[0], axis) > 0.9


def test_pca_finds_the_largest_variance_and_kmeans_the_clusters():
    X, y, axis = planted()
    nuisance = np.eye(16)[7]
    assert cos(make_featurizer("pca").fit(X).components_[0], nuisance) > 0.99
    X2 = X.copy()
    X2[:, 7] /= 10  # without the nuisance the two clusters are the classes
    assert cos(make_featurizer("kmeans").fit(X2).components_[0], axis) > 0.9


def test_random_is_seeded_and_unit_norm():
    X, y, _ = planted()
    a = make_featurizer("random", seed=3).fit(X, y).components_
    b = make_featurizer("random", seed=3).fit(X, y).components_
    c = make_featurizer("random", seed=4).fit(X, y).components_
    assert np.allclose(a, b) and not np.allclose(a, c) and np.isclose(np.linalg.norm(a), 1)


def test_transform_and_intervention_use_the_components():
    X, y, axis = planted()
    feat = make_featurizer("mean").fit(X, y)
    assert np.allclose(feat.transform(X), X @ feat.components_.T)
    sub = feat.intervention()
    hb, hs = torch.randn(5, 16), torch.randn(5, 16)
    out = sub(hb, hs)
    r = torch.as_tensor(feat.components_, dtype=torch.float32)
    torch.testing.assert_close(out @ r.T, hs @ r.T, atol=1e-5, rtol=0)  # the subspace now holds the source
    torch.testing.assert_close(out - (out @ r.T) @ r, hb - (hb @ r.T) @ r, atol=1e-5, rtol=0)  # the rest is the base's


def test_bad_labels_and_unknown_names_are_reported():
    X, _, _ = planted()
    with pytest.raises(ValueError, match="two label classes"):
        make_featurizer("mean").fit(X, np.zeros(len(X)))
    with pytest.raises(KeyError, match="unknown featurizer"):
        make_featurizer("svm")
    with pytest.raises(ValueError, match="problem="):
        make_featurizer("das").fit(X, np.arange(len(X)) % 2)


def test_rotation_stays_orthonormal_and_starts_at_init():
    init = torch.randn(2, 16)
    module = RotatedSubspace(16, rank=2, init=init)
    rows = module.rows.detach()
    torch.testing.assert_close(rows @ rows.T, torch.eye(2), atol=1e-5, rtol=0)
    q, _ = torch.linalg.qr(init.T)
    torch.testing.assert_close(rows.abs(), q.T.abs(), atol=1e-5, rtol=0)


def test_schedule_and_batches():
    f = linear_warmup_decay(100, 0.1)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0) and f(10) == pytest.approx(1.0)
    assert f(55) == pytest.approx(0.5) and f(99) == pytest.approx(1 / 90)
    steps = batches(10, TrainConfig(batch_size=4, epochs=2, seed=1))
    assert [len(s) for s in steps] == [4, 4, 2, 4, 4, 2]
    assert sorted(sum(steps[:3], [])) == list(range(10))
    assert steps == batches(10, TrainConfig(batch_size=4, epochs=2, seed=1))


def test_das_training_lowers_the_loss_on_a_tiny_model():
    model = tiny_model("llama", seed=0, vocab_size=512)
    engine = InterchangeEngine(model)
    gen = torch.Generator().manual_seed(0)
    base = TokenBatch.from_ids(torch.randint(3, 512, (16, 6), generator=gen).tolist())
    source = TokenBatch.from_ids(torch.randint(3, 512, (16, 6), generator=gen).tolist())
    base_run, src_run = engine.run(base), engine.run(source)
    site, pos = 2, [3] * 16
    # Targets the model would produce if the whole state were swapped: reachable by a swap.
    with torch.no_grad():
        targets = engine.intervene(base_run, site, pos, src_run.at(site, pos), Subspace(torch.eye(64))).argmax(-1)
    problem = CachedProblem.build(engine, base_run, src_run, site, pos, pos, targets)
    module = RotatedSubspace(64, rank=8, seed=0)
    with torch.no_grad():
        before = torch.nn.functional.cross_entropy(problem.logits(module), targets).item()
    log = train(problem, module, TrainConfig(lr=2e-2, batch_size=8, epochs=15, seed=0))
    with torch.no_grad():
        after = torch.nn.functional.cross_entropy(problem.logits(module), targets).item()
    assert log.steps == 30 and len(log.losses) == 30
    assert after < before - 0.05
    rows = module.rows.detach()
    torch.testing.assert_close(rows @ rows.T, torch.eye(8), atol=1e-4, rtol=0)


def test_lda_without_within_class_variance_falls_back_to_the_mean_difference():
    X = np.array([[1.0, 2.0, 0.0]] * 5 + [[0.0, 2.0, 3.0]] * 5)  # two points, repeated
    y = np.array([0] * 5 + [1] * 5)
    feat = make_featurizer("lda").fit(X, y)
    assert feat.degenerate_
    assert cos(feat.components_[0], X[5] - X[0]) > 0.999
    assert not make_featurizer("lda").fit(*planted()[:2]).degenerate_
