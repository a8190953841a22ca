"""Auditable CausalGym cells: per-pair logs, saved directions that re-score, DAS to convergence,
both selectivity rules, and a featurizer from outside."""

from __future__ import annotations

import math

import pytest
import torch

from harness.benchmark import TaskContext
from harness.interventions.saving import load, subspace_from
from harness.interventions.training import ConvergeConfig, train_converged
from harness.testing import tiny_adapter
from harness_plugins.causalgym.benchmark import CausalGymBenchmark
from harness_plugins.causalgym.sweep import _evaluate

EXTERNAL = "test_causalgym_audit:make_identity_basis"


def make_identity_basis(X, y, hidden_size, seed=0):
    """A bring-your-own featurizer: the standard basis (features = coordinates), first 2 swapped."""
    return (lambda h: h), (lambda f: f), [0, 1]


@pytest.fixture(scope="module")
def adapter():
    torch.set_num_threads(1)
    return tiny_adapter("llama", seed=0)


@pytest.fixture(scope="module")
def run(adapter, tmp_path_factory):
    out = tmp_path_factory.mktemp("cg-featurizers")
    bench = CausalGymBenchmark(tasks=["agr_pronoun"], n_train=10, n_eval=4, methods=["das", "mean", EXTERNAL], layers=[2],
                               das={"eval_every": 2, "patience": 2, "max_steps": 12}, featurizer_dir=str(out))
    ctx = TaskContext(task="t", seed=0)
    samples = bench.samples(adapter, ctx)
    return bench, bench.evaluate(adapter, samples, ctx), out, ctx


def test_every_pair_is_logged_and_the_cell_is_their_mean(run):
    _, results, _, _ = run
    for r in results:
        if r.values.get("skipped"):
            continue
        pairs = r.log["pairs"]
        assert len(pairs) == r.values["n_eval"]
        assert all({"base", "source", "base_label", "expected", "clean_logodds", "intervened_logodds", "effect", "matched", "control_effect"} <= set(p) for p in pairs)
        assert r.values["logodds"] == pytest.approx(sum(p["effect"] for p in pairs) / len(pairs), abs=1e-5)
        assert r.values["iia"] == pytest.approx(sum(p["matched"] for p in pairs) / len(pairs))
        for p in pairs:
            assert p["effect"] == pytest.approx(p["intervened_logodds"] - p["clean_logodds"], abs=1e-4)
        assert r.values["control_logodds"] == pytest.approx(sum(p["control_effect"] for p in pairs) / len(pairs), abs=1e-5)


def test_both_selectivity_rules(run):
    _, results, _, _ = run
    for r in results:
        v = r.values
        if v.get("skipped"):
            continue
        assert v["selectivity"] == pytest.approx(v["logodds"] - v["control_logodds"], abs=1e-9)
        assert v["selectivity_abs"] == pytest.approx(v["logodds"] - abs(v["control_logodds"]), abs=1e-9)
        assert v["selectivity_abs"] <= v["logodds"] + 1e-12 and math.isfinite(v["control_leakage"])


def test_saved_directions_reproduce_the_logged_pairs(run, adapter):
    bench, results, out, ctx = run
    checked = 0
    for r in results:
        if r.values.get("skipped") or r.values["method"] not in ("das", "mean"):
            continue
        tensors, kinds, _ = load(out / r.log["featurizer"]["file"])
        name = r.log["tensors"][0]
        fn = subspace_from(tensors[name])
        state = bench._task_state(adapter, r.values["task"], ctx)
        rows = state.eval.usable(r.values["span"])
        (real,) = _evaluate(fn, state, bench._engine, r.values["site"], r.values["span"], rows)
        assert real["pairs"]["effect"] == pytest.approx([p["effect"] for p in r.log["pairs"]], abs=1e-6)
        assert real["effect"] == pytest.approx(r.values["logodds"], abs=1e-6)
        checked += 1
    assert checked >= 2


def test_das_stops_on_the_heldout_training_pairs(run):
    _, results, _, _ = run
    das = [r.values for r in results if r.values["method"] == "das" and not r.values.get("skipped")]
    assert das
    for v in das:
        assert 1 <= v["train_steps"] <= 12 and v["stopped"] in ("patience", "cap")
        assert v["heldout_pairs"] + v["fit_pairs"] == v["n_train"] and v["heldout_pairs"] >= 1
        assert v["best_step"] <= v["train_steps"] and v["control_train_steps"] <= 12


def test_train_converged_stops_by_patience_and_keeps_the_best():
    """A toy problem whose held-out loss only gets worse: training stops after `patience` evaluations
    and restores the parameters of the best evaluation."""
    class Toy:
        def __init__(self, target):
            self.targets = torch.tensor([target] * 4)

        def __len__(self):
            return 4

        def logits(self, fn, rows=None):
            n = 4 if rows is None else len(rows)
            return fn.w.expand(n, 2)

    fn = torch.nn.Module()
    fn.w = torch.nn.Parameter(torch.zeros(1, 2))
    log = train_converged(Toy(0), fn, Toy(1), ConvergeConfig(lr=0.1, batch_size=2, eval_every=1, patience=3, max_steps=50, warmup=1))
    assert log.stopped == "patience" and log.steps == 4 and log.best_step == 1
    assert len(log.heldout_losses) == 4 and log.heldout_losses == sorted(log.heldout_losses)


def test_external_featurizer_runs(run):
    _, results, _, _ = run
    ext = [r.values for r in results if r.values["method"] == EXTERNAL and not r.values.get("skipped")]
    assert ext and all(v["features"] == 2 and math.isfinite(v["logodds"]) for v in ext)
