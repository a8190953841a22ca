"""Interchange interventions shared by CausalGym, RAVEL and any plugin that needs them.

Quick tour (see docs/interventions.md)::

    from harness.interventions import (InterchangeEngine, TokenBatch, CachedProblem,
                                       RotatedSubspace, Subspace, vanilla, train, TrainConfig,
                                       make_featurizer)

    engine = adapter.interchange_engine()                     # or InterchangeEngine(hf_model) in tests
    base = engine.run(TokenBatch.from_ids(base_ids, pad_id))  # clean run, cached once
    src = engine.run(TokenBatch.from_ids(src_ids, pad_id))
    logits = engine.intervene(base, site, base_pos, src.at(site, src_pos), vanilla)   # (B, V)

    problem = CachedProblem.build(engine, base, src, site, base_pos, src_pos, targets)
    das = RotatedSubspace(d, rank=1); train(problem, das, TrainConfig(lr=5e-3))

Submodules import torch; plugins should import this package lazily (inside functions).
"""

from harness.interventions.engine import CachedRun, InterchangeEngine, InterchangeFn
from harness.interventions.featurizers import Featurizer, make_featurizer
from harness.interventions.functions import RotatedSubspace, Subspace, orthonormal_rows, swap_subspace, vanilla
from harness.interventions.generation import generate_with_intervention
from harness.interventions.problem import CachedProblem, HookedProblem
from harness.interventions.tokens import TokenBatch, encode, find_span_end, last_token_at, span_end_positions
from harness.interventions.training import TrainConfig, TrainLog, train

__all__ = [
    "CachedProblem", "CachedRun", "Featurizer", "HookedProblem", "InterchangeEngine", "InterchangeFn",
    "RotatedSubspace", "Subspace", "TokenBatch", "TrainConfig", "TrainLog", "encode", "find_span_end",
    "generate_with_intervention", "last_token_at", "make_featurizer", "orthonormal_rows", "span_end_positions",
    "swap_subspace", "train", "vanilla",
]
