"""Unsupervised featurizers (PCA, sparse autoencoder) and the L1-SVM feature selector.

Both are scikit-learn-style estimators (``fit`` / ``transform``) over residual-stream
vectors, plus an interchange module ``fn(h_base, h_source)`` that swaps the selected
features and maps back, which is what the intervention engine calls.

* PCA (RAVEL Sec. 4): standardise each dimension (mean, std), fit a full PCA, pick the
  principal components with an L1-penalised linear SVM that predicts the target attribute's
  value; the intervention swaps those components: z = (h - mu) / sigma,
  z' = z_b + C^T (C z_s - C z_b), h' = z' * sigma + mu.
* SAE: one ReLU encoder layer after subtracting the decoder bias, a linear decoder,
  loss = mean squared reconstruction error + l1 * mean |z|; features chosen by the same L1
  SVM on the latents; the intervention decodes the base latents with the selected latents
  taken from the source (the paper's AutoencoderIntervention: no error term; set
  ``keep_error=True`` to add the base's reconstruction error back).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from torch import nn


def select_features(features: np.ndarray, labels: Sequence[str], C: float, seed: int = 0) -> np.ndarray:
    """Indices of features kept by an L1-penalised linear SVM predicting ``labels``.

    As in RAVEL: ``LinearSVC(penalty="l1", dual=False, C=C)`` and ``SelectFromModel``
    (a feature is kept when its one-vs-rest weights are not all ~0). Fewer than two classes
    leave nothing to predict, so nothing is selected.
    """
    from sklearn.feature_selection import SelectFromModel
    from sklearn.svm import LinearSVC

    labels = list(labels)
    if len(set(labels)) < 2:
        return np.zeros(0, dtype=int)
    svm = LinearSVC(C=C, penalty="l1", dual=False, max_iter=5000, tol=0.01, random_state=seed)
    svm.fit(features, labels)
    return np.flatnonzero(SelectFromModel(svm, prefit=True).get_support())


class StandardPCA:
    """PCA of standardised activations (every component kept)."""

    def fit(self, X: np.ndarray) -> StandardPCA:
        from sklearn.decomposition import PCA

        X = np.asarray(X, dtype=np.float64)
        self.mean_ = X.mean(axis=0)
        self.std_ = X.std(axis=0)
        self.std_[self.std_ == 0] = 1.0
        self.pca_ = PCA(svd_solver="full").fit((X - self.mean_) / self.std_)
        self.components_ = self.pca_.components_  # (k, d), orthonormal rows
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        return ((np.asarray(X, dtype=np.float64) - self.mean_) / self.std_) @ self.components_.T

    def interchange(self, dims: Sequence[int]) -> PCASwap:
        return PCASwap(self.mean_, self.std_, self.components_[np.asarray(dims, dtype=int)])


class PCASwap(nn.Module):
    """Swap the chosen principal components of standardised states."""

    def __init__(self, mean: np.ndarray, std: np.ndarray, components: np.ndarray):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))
        self.register_buffer("rows", torch.as_tensor(components, dtype=torch.float32).reshape(-1, len(mean)))

    def forward(self, h_base: torch.Tensor, h_source: torch.Tensor) -> torch.Tensor:
        zb = (h_base.float() - self.mean) / self.std
        zs = (h_source.float() - self.mean) / self.std
        z = zb + (zs @ self.rows.T - zb @ self.rows.T) @ self.rows
        return (z * self.std + self.mean).to(h_base.dtype)


class SparseAutoencoder(nn.Module):
    """ReLU sparse autoencoder over (scaled) residual-stream vectors."""

    def __init__(self, d: int, latent: int, scale: float = 1.0):
        super().__init__()
        self.encoder = nn.Linear(d, latent)
        self.decoder = nn.Linear(latent, d)
        self.register_buffer("scale", torch.tensor(float(scale)))

    def encode(self, h: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.encoder(h.float() / self.scale - self.decoder.bias))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z) * self.scale


@dataclass
class SAEConfig:
    latent_multiple: int = 4  # latent size = multiple * d
    l1: float = 1.0  # weight of mean |z| (inputs scaled to unit RMS per dimension)
    lr: float = 1e-3
    steps: int = 1500
    batch_size: int = 128
    seed: int = 0


@dataclass
class SAEFitLog:
    losses: list[float] = field(default_factory=list)
    reconstruction_r2: float = float("nan")
    mean_active: float = float("nan")


class SAEFeaturizer:
    """Train a :class:`SparseAutoencoder` on activations (``fit``), give latents (``transform``)."""

    def __init__(self, config: SAEConfig | None = None):
        self.config = config or SAEConfig()

    def fit(self, X: np.ndarray) -> SAEFeaturizer:
        cfg = self.config
        X_t = torch.as_tensor(np.asarray(X), dtype=torch.float32)
        n, d = X_t.shape
        # One scalar scale so that the l1 weight means the same for every model: unit mean
        # squared norm per dimension after centring.
        scale = float(((X_t - X_t.mean(0)) ** 2).mean().sqrt().clamp_min(1e-6))
        gen = torch.Generator().manual_seed(cfg.seed)
        torch.manual_seed(cfg.seed)
        sae = SparseAutoencoder(d, cfg.latent_multiple * d, scale)
        with torch.no_grad():
            sae.decoder.bias.copy_(X_t.mean(0) / scale)
        opt = torch.optim.Adam(sae.parameters(), lr=cfg.lr)
        log = SAEFitLog()
        for _ in range(cfg.steps):
            rows = torch.randint(0, n, (min(cfg.batch_size, n),), generator=gen)
            x = X_t[rows] / scale
            z = torch.relu(sae.encoder(x - sae.decoder.bias))
            loss = ((sae.decoder(z) - x) ** 2).mean() + cfg.l1 * z.abs().mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            log.losses.append(float(loss.detach()))
        sae.eval()
        with torch.no_grad():
            z = sae.encode(X_t)
            err = ((sae.decode(z) - X_t) ** 2).sum()
            tot = ((X_t - X_t.mean(0)) ** 2).sum()
            log.reconstruction_r2 = float(1 - err / tot)
            log.mean_active = float((z > 0).float().sum(1).mean())
        self.sae_, self.log_ = sae, log
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.sae_.encode(torch.as_tensor(np.asarray(X), dtype=torch.float32)).numpy()

    def interchange(self, dims: Sequence[int], keep_error: bool = False) -> SAESwap:
        return SAESwap(self.sae_, dims, keep_error)


class SAESwap(nn.Module):
    """Decode the base's latents with the selected latents replaced by the source's."""

    def __init__(self, sae: SparseAutoencoder, dims: Sequence[int], keep_error: bool = False):
        super().__init__()
        self.sae = sae
        self.register_buffer("dims", torch.as_tensor(list(dims), dtype=torch.long))
        self.keep_error = keep_error

    def forward(self, h_base: torch.Tensor, h_source: torch.Tensor) -> torch.Tensor:
        zb, zs = self.sae.encode(h_base), self.sae.encode(h_source)
        z = zb.clone()
        z[:, self.dims] = zs[:, self.dims]
        out = self.sae.decode(z)
        if self.keep_error:
            out = out + (h_base.float() - self.sae.decode(zb))
        return out.to(h_base.dtype)
