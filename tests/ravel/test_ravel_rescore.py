"""Saved interventions reloaded reproduce the logged outputs and metrics; a featurizer from outside."""

from __future__ import annotations

import logging
import math

import pytest
import torch

from harness.benchmark import TaskContext
from harness_plugins.ravel.artifacts import load_cell, rescore
from harness_plugins.ravel.metrics import average, score
from harness_plugins.ravel.scoring import outcomes_from_records
from test_ravel_benchmark import FAST, SMALL, _bench

EXTERNAL = "test_ravel_rescore:make_rotation"


def make_rotation(X, y, hidden_size, seed=0, n_features=4):
    """A bring-your-own featurizer (MIB shape): a random rotation, its inverse, 4 feature indices."""
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(hidden_size, hidden_size, generator=gen))
    featurizer = torch.nn.Linear(hidden_size, hidden_size, bias=False)
    inverse = torch.nn.Linear(hidden_size, hidden_size, bias=False)
    with torch.no_grad():
        featurizer.weight.copy_(q.T)
        inverse.weight.copy_(q)
    assert X.shape[1] == hidden_size and len(set(y)) >= 2
    return featurizer, inverse, list(range(n_features))


@pytest.fixture(scope="module")
def run(tiny_ravel_world, tmp_path_factory):
    ad, folder = tiny_ravel_world
    out = tmp_path_factory.mktemp("featurizers")
    bench = _bench(folder, methods=["pca", "sae", "rlap", "dbm", "das", "full", EXTERNAL], featurizer_dir=str(out),
                   method_args={**FAST, "rlap_steps": 60, "rlap_rank": 4})
    ctx = TaskContext(task="ravel_tiny", logger=logging.getLogger("ravel-test"))
    samples = bench.samples(ad, ctx)
    return bench, bench.evaluate(ad, samples, ctx), out, ctx


def test_every_example_is_logged_under_both_rules(run):
    bench, results, _, _ = run
    inst = bench._instances["city"]
    for r in results:
        for split in bench.eval_splits:
            recs = r.log["examples"][split]
            assert len(recs) == len(inst.split(split))
            assert all({"input", "source", "label", "inv_label", "output", "tokens", "strict", "paper"} <= set(x) for x in recs)
            for rule, prefix in (("strict", ""), ("paper", "paper/")):
                kept, dropped = outcomes_from_records(recs, rule)
                cell = score(kept, "Country", inst.attributes, dropped)
                for m in ("cause", "isolate", "disentangle"):
                    got, want = r.values[f"{prefix}{split}/{m}"], getattr(cell, m)
                    assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want)
        assert r.values["cause"] == pytest.approx(average(r.log["per_rule"]["strict"])["cause"], nan_ok=True)


def test_saved_interventions_reproduce_outputs_and_metrics(run):
    bench, results, out, _ = run
    runner = bench._runner
    inst = bench._instances["city"]
    checked = 0
    for r in results:
        path = out / r.log["featurizer"]["file"]
        assert path.exists()
        if r.sample_id.endswith(EXTERNAL):
            with pytest.raises(ValueError, match="own code"):
                load_cell(path)
            continue
        module, facts = load_cell(path)
        assert facts["method"] == r.sample_id.split("/")[-1] and facts["site"] == runner.site
        for split in bench.eval_splits:
            again = rescore(path, runner, inst.split(split))
            assert [x["output"] for x in again] == [x["output"] for x in r.log["examples"][split]]
            assert again == r.log["examples"][split]
        checked += 1
    assert checked == 6


def test_external_featurizer_runs_and_rlap_has_its_rank(run):
    bench, results, _, ctx = run
    by = {r.sample_id.split("/", 2)[-1]: r for r in results}
    assert by[EXTERNAL].log["fit"]["features"] == 4 and by["rlap"].log["fit"]["features"] == 4
    task = bench.aggregate(results, ctx)
    for m in ("rlap", EXTERNAL):
        assert 0.0 <= task.metrics[f"{m}/cause"] <= 1.0 and f"{m}/paper/cause" in task.metrics
    assert "saebench" in task.details["methods"]["das"]


def test_an_empty_attribute_is_warned_about_and_reported_missing(tiny_ravel_world, caplog):
    ad, folder = tiny_ravel_world
    bench = _bench(folder, methods=["full"], targets=["Country", "Language"])
    ctx = TaskContext(task="ravel_tiny", logger=logging.getLogger("ravel-empty"))
    samples = bench.samples(ad, ctx)
    inst = bench._instances["city"]
    inst.examples = [e for e in inst.examples if not (e.split == "entity_test" and e.attribute == "Language")]
    with caplog.at_level(logging.WARNING, logger="ravel-empty"):
        results = bench.evaluate(ad, samples, ctx)
        task = bench.aggregate(results, ctx)
    by = {r.sample_id.split("/")[1]: r for r in results}
    country = by["Country"].log
    assert "isolate:Language" in country["missing"]["strict"]["entity_test"]
    assert country["per_rule"]["strict"]["entity_test"]["isolate_attributes"] == ["Continent"]
    lang = by["Language"]
    assert math.isnan(lang.values["entity_test/cause"]) and "no examples" in lang.log["missing"]["strict"]["entity_test"]["cause"]
    assert lang.log["coverage"]["strict"]["cause"] == {"averaged": ["context_test"], "missing": ["entity_test"]}
    assert "Language/entity_test" in task.details["empty"]["city"]
    assert task.details["missing_cells"]["full/city/entity_test/cause"] == ["Language"]
    assert "missing" in caplog.text
