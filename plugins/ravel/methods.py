"""Fit one RAVEL method for one target attribute; return the interchange function to evaluate.

Every method ends as ``fn(h_base, h_source) -> h'`` at the entity's last token:

======  ==============================================================================
pca     standardised PCA of train activations; components chosen by an L1 linear SVM
        predicting the target attribute's value (``pca_C``)
sae     sparse autoencoder trained on train activations; latents chosen the same way
dbm     learned binary mask, temperature-annealed, L1 penalty; cause examples of A
mdbm    the mask trained multi-task (cause for A, isolate for the others), as in the paper
das     rank-k rotation trained on cause examples of A (target: inv_label)
mdas    rank-k rotation trained on cause examples of A and isolate examples of every
        other attribute (target: label) at once
rlap    R-LACE's adversarial rank-k projection (:mod:`harness_plugins.ravel.rlap`) fit on train
        activations labelled with the target attribute's value; the removed subspace is swapped
full    reference, not a featurizer: the whole vector is swapped (upper bound on Cause)
======  ==============================================================================

A method written ``module:factory`` is a featurizer from outside
(:mod:`harness.interventions.external`), fit on the same activations and labels as RLAP,
with ``method_args.external`` passed to the factory as keyword options.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from harness.interventions.functions import RotatedSubspace
from harness_plugins.ravel.featurizers import SAEConfig, SAEFeaturizer, StandardPCA, select_features
from harness_plugins.ravel.instance import RavelExample
from harness_plugins.ravel.runner import RavelRunner
from harness_plugins.ravel.trainable import BinaryMask, FitConfig, fit

METHODS = ("pca", "sae", "rlap", "dbm", "mdbm", "das", "mdas", "full")
TRAINED = ("dbm", "mdbm", "das", "mdas")


@dataclass
class MethodConfig:
    das_rank: int = 32
    lr: float = 2e-3
    steps: int = 200
    batch_size: int = 16
    dbm_l1: float = 1e-2
    dbm_lr: float = 1e-2
    cause_examples: int = 256  # training examples of the target attribute
    isolate_examples: int = 128  # per other attribute (multi-task methods)
    pca_C: float = 0.05
    sae_C: float = 1.0
    sae: SAEConfig = field(default_factory=SAEConfig)
    sae_keep_error: bool = False
    rlap_rank: int = 8
    rlap_steps: int = 600
    external: dict[str, Any] = field(default_factory=dict)  # options for 'module:factory' methods
    seed: int = 0


class NoTrainingData(ValueError):
    """The target attribute has nothing to fit on (the model knows none of its train pairs)."""


class _Swap(nn.Module):
    def forward(self, h_base: torch.Tensor, h_source: torch.Tensor) -> torch.Tensor:
        return h_source


class FeaturizerCache:
    """Unsupervised featurizers are fit once per (runner, entity type) and shared by targets."""

    def __init__(self) -> None:
        self.store: dict[tuple, Any] = {}

    def get(self, key: tuple, make: Any) -> Any:
        if key not in self.store:
            self.store[key] = make()
        return self.store[key]


def _train_inputs(train: Sequence[RavelExample]) -> list[RavelExample]:
    """One example per distinct base input (activations are per input, not per pair)."""
    seen: dict[str, RavelExample] = {}
    for e in train:
        seen.setdefault(e.input, e)
    return list(seen.values())


def _unique_sources(train: Sequence[RavelExample]) -> list[RavelExample]:
    seen: dict[str, RavelExample] = {}
    for e in train:
        seen.setdefault(e.source_input, e)
    return list(seen.values())


def _subsample(rng: random.Random, items: list, k: int) -> list:
    return items if len(items) <= k else rng.sample(items, k)


def fit_method(method: str, target: str, runner: RavelRunner, train: Sequence[RavelExample], cfg: MethodConfig,
               cache: FeaturizerCache, entity_type: str = "") -> tuple[nn.Module, dict]:
    """The interchange module of ``method`` for target attribute ``target`` and a log dict."""
    if method not in METHODS and ":" not in method:
        raise ValueError(f"unknown RAVEL method {method!r}; choose from {', '.join(METHODS)} or 'module:factory'")
    rng = random.Random(f"{cfg.seed}:{method}:{target}")
    if method == "full":
        return _Swap(), {}
    if method == "rlap" or ":" in method:
        return _fit_labelled(method, target, runner, train, cfg)
    if method in ("pca", "sae"):
        return _fit_unsupervised(method, target, runner, train, cfg, cache, entity_type)
    cause = _subsample(rng, [e for e in train if e.attribute == target], cfg.cause_examples)
    if not cause:
        raise NoTrainingData(f"no training examples for target attribute {target!r}; the model may not know it (see known_rate)")
    chosen, flags = list(cause), [True] * len(cause)
    if method in ("mdas", "mdbm"):
        for other in sorted({e.attribute for e in train} - {target}):
            iso = _subsample(rng, [e for e in train if e.attribute == other], cfg.isolate_examples)
            chosen += iso
            flags += [False] * len(iso)
    problem = runner.problem(chosen, flags)
    torch.manual_seed(cfg.seed)
    d = runner.adapter.hidden_size
    if method in ("das", "mdas"):
        module: nn.Module = RotatedSubspace(d, rank=min(cfg.das_rank, d), seed=cfg.seed)
        fit_cfg = FitConfig(lr=cfg.lr, batch_size=cfg.batch_size, steps=cfg.steps, seed=cfg.seed)
    else:
        module = BinaryMask(d)
        fit_cfg = FitConfig(lr=cfg.dbm_lr, batch_size=cfg.batch_size, steps=cfg.steps, l1=cfg.dbm_l1, seed=cfg.seed)
    module = module.to(runner.engine.device)
    log = fit(problem, module, fit_cfg)
    del problem
    info: dict[str, Any] = {
        "train_examples": len(chosen),
        "cause_examples": int(sum(flags)),
        "loss_first": float(np.mean(log.losses[:10])),
        "loss_last": float(np.mean(log.losses[-10:])),
        "train_token_accuracy_last": float(np.mean(log.accuracy[-10:])),
    }
    info["features"] = int(module.selected.numel()) if isinstance(module, BinaryMask) else min(cfg.das_rank, d)
    return module, info


def _fit_unsupervised(method, target, runner, train, cfg, cache, entity_type) -> tuple[nn.Module, dict]:
    inputs = _train_inputs(train)
    key_base = (id(runner), entity_type)
    if method == "pca":
        featurizer = cache.get(key_base + ("pca",), lambda: StandardPCA().fit(runner.activations(inputs)))
        C, extra = cfg.pca_C, {}
    else:
        def make_sae():
            acts = np.concatenate([runner.activations(inputs), runner.activations(_unique_sources(train), "source")])
            return SAEFeaturizer(SAEConfig(**{**cfg.sae.__dict__, "seed": cfg.seed})).fit(acts)

        featurizer = cache.get(key_base + ("sae",), make_sae)
        C = cfg.sae_C
        extra = {"sae_reconstruction_r2": featurizer.log_.reconstruction_r2, "sae_mean_active": featurizer.log_.mean_active}
    labelled = [e for e in inputs if e.attribute == target]
    if not labelled:
        raise NoTrainingData(f"no training inputs for target attribute {target!r}")
    X = featurizer.transform(runner.activations(labelled))
    y = [e.label for e in labelled]
    dims = select_features(X, y, C, seed=cfg.seed)
    module = featurizer.interchange(dims) if method == "pca" else featurizer.interchange(dims, cfg.sae_keep_error)
    return module.to(runner.engine.device), {"features": int(len(dims)), "svm_C": C, "svm_examples": len(y), "svm_classes": len(set(y)), **extra}


def _fit_labelled(method, target, runner, train, cfg) -> tuple[nn.Module, dict]:
    """RLAP or an external featurizer, fit on train activations labelled with the value."""
    from harness.interventions.functions import Subspace

    labelled = [e for e in _train_inputs(train) if e.attribute == target]
    if len({e.label for e in labelled}) < 2:
        raise NoTrainingData(f"{method}: target {target!r} needs train inputs with at least two values")
    X, y = runner.activations(labelled), [e.label for e in labelled]
    if method == "rlap":
        from harness_plugins.ravel.rlap import RLAP, RLAPConfig

        fit = RLAP(RLAPConfig(rank=cfg.rlap_rank, steps=cfg.rlap_steps, seed=cfg.seed)).fit(X, y)
        module: nn.Module = Subspace(torch.as_tensor(fit.components_))
        info = {"features": int(fit.components_.shape[0]), "rlap_majority": fit.majority_, "rlap_probe_gap": fit.best_gap_}
    else:
        from harness.interventions.external import fit_external

        module = fit_external(method, X, y, hidden_size=runner.adapter.hidden_size, seed=cfg.seed, **cfg.external)
        info = {"features": int(module.indices.numel()), "external": method}
    return module.to(runner.engine.device), {**info, "examples": len(y), "classes": len(set(y))}
