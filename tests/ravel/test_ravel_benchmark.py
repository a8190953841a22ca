"""The RAVEL benchmark end to end on a tiny random model: every method, the cache, aggregation."""

from __future__ import annotations

import logging
import math

import pytest
import torch

from harness.benchmark import TaskContext
from harness_plugins.ravel.benchmark import RavelBenchmark, resolve_layer
from harness_plugins.ravel.featurizers import PCASwap, SAEConfig, SAEFeaturizer, StandardPCA, select_features
from harness_plugins.ravel.trainable import BinaryMask

SMALL = dict(train_entities=8, test_entities=20, train_templates=2, test_templates=1, wiki_templates=3,
             source_entities=8, sources_per_base=2, max_examples_per_template={"train": 40, "entity_test": 12, "context_test": 12})
FAST = dict(steps=12, batch_size=8, lr=1e-2, das_rank=4, cause_examples=32, isolate_examples=16,
            sae={"steps": 30, "latent_multiple": 2})


@pytest.fixture()
def world(tiny_ravel_world):
    return tiny_ravel_world


def _bench(folder, **kw):
    args = dict(data_path=str(folder), methods=["pca", "sae", "dbm", "mdbm", "das", "mdas", "full"], layer=1,
                instance=SMALL, method_args=FAST, targets=["Country"])
    return RavelBenchmark(**{**args, **kw})


def test_every_method_end_to_end_with_cached_instance(world, tmp_path, caplog):
    ad, folder = world
    ctx = TaskContext(task="ravel_tiny", cache_dir=tmp_path, logger=logging.getLogger("ravel-test"))
    bench = _bench(folder)
    samples = bench.samples(ad, ctx)
    assert [s.id for s in samples] == [f"city/Country/{m}" for m in bench.methods]
    results = bench.evaluate(ad, samples, ctx)
    for r in results:
        for split in ("entity_test", "context_test"):
            for m in ("cause", "isolate", "disentangle"):
                v = r.values[f"{split}/{m}"]
                assert 0.0 <= v <= 1.0
            per = r.log["per_split"][split]
            assert per["disentangle"] == pytest.approx((per["cause"] + per["isolate"]) / 2)
            assert set(per["isolate_by_attribute"]) == {"Continent", "Language"}
        assert r.values["disentangle"] == pytest.approx((r.values["entity_test/disentangle"] + r.values["context_test/disentangle"]) / 2)
    by_method = {r.sample_id.split("/")[-1]: r for r in results}
    assert by_method["das"].log["fit"]["features"] == 4
    assert by_method["mdas"].log["fit"]["train_examples"] > by_method["das"].log["fit"]["train_examples"]
    task = bench.aggregate(results, ctx)
    assert task.metrics["disentangle"] == task.metrics["mdas/disentangle"]  # the primary method
    assert {f"{m}/cause" for m in bench.methods} <= set(task.metrics)
    assert set(task.details["methods"]) == set(bench.methods)
    assert task.details["methods"]["das"]["cause"] == pytest.approx(by_method["das"].values["cause"])

    # A second benchmark object reads the instance from the cache instead of generating again.
    cached = list((tmp_path / "ravel").glob("instance_city_*.json"))
    assert len(cached) == 1
    bench2 = _bench(folder)
    with caplog.at_level(logging.INFO, logger="ravel-test"):
        bench2.samples(ad, ctx)
    assert "read from" in caplog.text
    assert bench2._instances["city"].examples == bench._instances["city"].examples
    # Seeded: the same cell gives the same scores again (the same states, so bit-identical;
    # a different batching history may change them at float precision only).
    first = bench2.evaluate(ad, [samples[4]], ctx)[0]
    again = bench2.evaluate(ad, [samples[4]], ctx)[0]
    assert again.values == first.values
    assert abs(first.values["disentangle"] - results[4].values["disentangle"]) < 0.1


def test_full_swap_at_the_embeddings_causes_same_template_examples(world, tmp_path):
    """Oracle: at site 0, swapping a one-token entity's embedding makes the base output the
    source's value whenever the source prompt is the base template itself."""
    ad, folder = world
    big = {**SMALL, "train_entities": 16, "sources_per_base": 4, "max_examples_per_template": {"entity_test": 100, "context_test": 100}}
    bench = _bench(folder, methods=["full"], layer=0, instance=big)
    ctx = TaskContext(task="t", cache_dir=None)
    bench.samples(ad, ctx)
    runner = bench._get_runner(ad)
    inst = bench._instances["city"]
    examples = [e for e in inst.split("entity_test") + inst.split("context_test")
                if e.source_template == e.template and " " not in e.entity and " " not in e.source_entity
                and len(ad.tokenizer(e.entity)["input_ids"]) == 1 and len(ad.tokenizer(e.source_entity)["input_ids"]) == 1]
    assert len(examples) >= 3
    recs = runner.records(lambda hb, hs: hs, examples)
    for rule in ("strict", "paper"):
        kept = [r[rule] for r in recs if "dropped" not in r[rule]]
        assert kept and all(j["hit_inv"] for j in kept)


def test_layer_and_argument_errors(world):
    assert resolve_layer("middle", 30) == 15 and resolve_layer(0, 30) == 0
    with pytest.raises(ValueError, match="layer must be"):
        resolve_layer(31, 30)
    with pytest.raises(ValueError, match="unknown method"):
        RavelBenchmark(methods=["lace"])
    with pytest.raises(ValueError, match="matching"):
        RavelBenchmark(matching=["loose"])
    with pytest.raises(ValueError, match="eval_splits"):
        RavelBenchmark(eval_splits=["val"])


def test_featurizers_by_hand():
    rng = torch.Generator().manual_seed(0)
    X = torch.randn(200, 6, generator=rng).numpy() * [1, 2, 3, 4, 5, 6] + 10
    pca = StandardPCA().fit(X)
    hb, hs = torch.tensor(X[:5], dtype=torch.float32), torch.tensor(X[5:10], dtype=torch.float32)
    torch.testing.assert_close(pca.interchange(range(6))(hb, hs), hs, atol=1e-4, rtol=1e-4)  # all components: the source
    torch.testing.assert_close(pca.interchange([])(hb, hs), hb)  # none: the base
    swap = pca.interchange([0, 2])
    assert isinstance(swap, PCASwap)
    z = lambda h: ((h.numpy() - pca.mean_) / pca.std_) @ pca.components_.T  # noqa: E731
    out = z(swap(hb, hs))
    assert out[:, [0, 2]] == pytest.approx(z(hs)[:, [0, 2]], abs=1e-3)
    assert out[:, [1, 3, 4, 5]] == pytest.approx(z(hb)[:, [1, 3, 4, 5]], abs=1e-3)

    # L1 SVM selection keeps the informative feature and drops pure noise.
    y = ["a" if v > 0 else "b" for v in X[:, 3] - 10]
    noise = torch.randn(200, 5, generator=rng).numpy() * 0.01
    feats = select_features(X[:, [3]] - 10, y, C=1.0)
    assert list(feats) == [0]
    both = select_features(torch.cat([torch.tensor(X[:, [3]] - 10), torch.tensor(noise)], 1).numpy(), y, C=0.05)
    assert 0 in both and len(both) < 6
    assert len(select_features(X, ["same"] * 200, C=1.0)) == 0

    sae = SAEFeaturizer(SAEConfig(steps=50, latent_multiple=2)).fit(X)
    Z = sae.transform(X)
    assert Z.shape == (200, 12) and (Z >= 0).all()
    out = sae.interchange([1, 4])(hb, hs)
    zb, zs = sae.transform(hb.numpy()), sae.transform(hs.numpy())
    dec = sae.sae_.decode(torch.tensor(zb).index_copy(1, torch.tensor([1, 4]), torch.tensor(zs[:, [1, 4]])))
    torch.testing.assert_close(out, dec.detach())
    assert not math.isnan(sae.log_.reconstruction_r2)


def test_binary_mask_is_soft_in_training_and_exact_at_evaluation():
    m = BinaryMask(4)
    with torch.no_grad():
        m.logits.copy_(torch.tensor([3.0, -3.0, 0.5, -0.5]))
    hb, hs = torch.zeros(2, 4), torch.ones(2, 4)
    m.eval()
    assert m(hb, hs).tolist() == [[1, 0, 1, 0]] * 2 and m.selected.tolist() == [0, 2]
    m.train()
    m.anneal(0.0)
    soft = m(hb, hs)[0]
    assert 0 < soft[3] < 0.5 < soft[2] < 1
    m.anneal(1.0)
    assert float(m.temperature) == pytest.approx(0.01)
    assert m(hb, hs)[0].round().tolist() == [1, 0, 1, 0]


def test_shipped_task_files_instantiate(tmp_path, monkeypatch):
    from pathlib import Path

    from harness.tasks import instantiate, parse_file

    folder = Path(__file__).resolve().parents[2] / "tasks" / "ravel"
    monkeypatch.setenv("RAVEL_DATA", str(tmp_path))
    (tmp_path / "ravel").mkdir()
    monkeypatch.setenv("HARNESS_REFDATA", str(tmp_path))
    names = []
    for path in sorted(folder.glob("*.yaml")):
        cfg = parse_file(path)
        bench = instantiate(cfg, RavelBenchmark)
        assert set(bench.methods) <= {"pca", "sae", "rlap", "dbm", "mdbm", "das", "mdas", "full"}
        names.append(cfg.name)
        if "default" in cfg.tags:
            assert bench.data_path.name == "data" and bench.targets == ["Country"]
    assert {"ravel_city", "ravel_city_full", "ravel_official_city"} <= set(names)
    monkeypatch.delenv("RAVEL_DATA")
    with pytest.raises(Exception, match="RAVEL_DATA"):
        instantiate(parse_file(folder / "ravel_official_city.yaml"), RavelBenchmark)


def test_method_standard_errors_combine_the_splits_binomial_errors():
    from harness.benchmark import SampleResult
    from harness_plugins.ravel.benchmark import _method_stderr

    def var(p, n):
        q = (p * n + 1) / (n + 2)
        return q * (1 - q) / (n + 2)

    per_split = {"entity_test": {"cause": 0.0, "n_cause": 8, "isolate": 0.5, "n_isolate": 24},
                 "context_test": {"cause": 1.0, "n_cause": 8, "isolate": 0.75, "n_isolate": 16}}
    results = [SampleResult("city/Country/mdas", {}, {"per_split": per_split}),
               SampleResult("city/Country/pca", {}, {"per_split": {}})]
    se = _method_stderr(results, "mdas")
    v_cause = (var(0.0, 8) + var(1.0, 8)) / 4
    v_iso = (var(0.5, 24) + var(0.75, 16)) / 4
    assert se["cause"] == pytest.approx(math.sqrt(v_cause)) and se["cause"] > 0  # rates of 0 and 1 still have an error
    assert se["isolate"] == pytest.approx(math.sqrt(v_iso))
    assert se["disentangle"] == pytest.approx(math.sqrt((v_cause + v_iso) / 4))
    assert _method_stderr(results, "pca") == {}
