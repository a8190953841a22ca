"""AUROC (own Mann-Whitney implementation) against sklearn, the question bootstrap, paired
differences, and the entropy signal end to end on a tiny model."""

import json
import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from harness.benchmark import TaskContext
from harness.results import record_to_result, sample_record
from harness_plugins.activation_decoding.benchmarks import TruthfulQABinary, TruthfulQAMC
from harness_plugins.activation_decoding.detection import signal_value
from harness_plugins.activation_decoding.stats import auroc, bootstrap_auroc, midranks, paired_difference
from harness_plugins.activation_decoding.truthfulqa import RULE_COLUMN, RULE_FIRST, read_csv


def test_auroc_equals_sklearn_with_and_without_ties():
    rng = np.random.default_rng(0)
    for trial in range(20):
        n = int(rng.integers(5, 60))
        y = rng.integers(0, 2, n)
        y[:2] = [0, 1]
        s = rng.normal(size=n) + y * trial / 10
        if trial % 2:
            s = np.round(s, 0)  # many ties
        assert auroc(s, y) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert math.isnan(auroc([1.0, 2.0, 3.0], [0, 0, 0]))  # one class only
    np.testing.assert_array_equal(midranks(np.array([3.0, 1.0, 3.0, 2.0])), [3.5, 1.0, 3.5, 2.0])


def test_question_bootstrap_is_seeded_and_brackets_the_estimate():
    rng = np.random.default_rng(1)
    groups = np.repeat(np.arange(50), 6)
    y = np.tile([1, 1, 0, 0, 0, 0], 50)
    s = rng.normal(size=300) + 0.8 * y
    a = bootstrap_auroc(s, y, groups, n_bootstrap=300, seed=3)
    assert a == bootstrap_auroc(s, y, groups, n_bootstrap=300, seed=3)
    assert a["ci_low"] < a["auroc"] < a["ci_high"] and a["n_groups"] == 50
    assert a["auroc"] == pytest.approx(roc_auc_score(y, s))


def test_bootstrap_interval_is_that_of_ranking_each_resample():
    """The count-weighted statistic equals the AUROC of each concatenated resample, ranked
    (sklearn's roc_auc_score here), under the same seeded draws, ties and one-class resamples."""
    rng = np.random.default_rng(5)
    groups = rng.integers(0, 9, 60)
    y = ((groups < 1) & (rng.random(60) < 0.7)).astype(int)  # positives in one question only
    s = np.round(rng.normal(size=60), 1)  # ties
    got = bootstrap_auroc(s, y, groups, n_bootstrap=200, seed=7)
    keys, index = np.unique(groups.astype(str), return_inverse=True)
    draws = np.random.default_rng(7)
    reps = []
    for _ in range(200):
        take = np.concatenate([np.flatnonzero(index == k) for k in draws.integers(0, len(keys), len(keys))])
        if 0 < y[take].sum() < len(take):
            reps.append(roc_auc_score(y[take], s[take]))
    assert len(reps) < 200  # some resamples had one class only: they are left out, as here
    assert (got["ci_low"], got["ci_high"]) == pytest.approx(tuple(np.percentile(reps, [2.5, 97.5])), abs=1e-12)


def test_paired_difference_counts_and_intervals():
    a, b = [0.5, 0.7, 0.2, 0.9, 0.4], [0.4, 0.7, 0.3, 0.5, 0.1]
    p = paired_difference(a, b, n_bootstrap=500, seed=0)
    assert (p["wins"], p["losses"], p["ties"]) == (3, 1, 1)
    assert p["mean"] == pytest.approx(np.mean(np.subtract(a, b)))
    assert p["t_low"] < p["mean"] < p["t_high"] and p["ci_low"] <= p["mean"] <= p["ci_high"]


def test_binary_rule_uses_the_column_when_present(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text("Question,Best Answer,Correct Answers,Incorrect Answers,Best Incorrect Answer\n"
                    "Q?,Yes,Yes; Sure,No; Never,Never\n", encoding="utf-8")
    (item,) = read_csv(path)
    assert item.best_incorrect == "Never." and item.binary_rule == RULE_COLUMN
    path.write_text("Question,Best Answer,Correct Answers,Incorrect Answers\nQ?,Yes,Yes; Sure,No; Never\n", encoding="utf-8")
    (item,) = read_csv(path)
    assert item.best_incorrect == "No." and item.binary_rule == RULE_FIRST


def test_entropy_signal_end_to_end_on_a_tiny_model(adapters, tmp_path):
    """The benchmark logs each answer's entropy and label; its AUROC equals sklearn's on them,
    and the logged entropy equals a direct recomputation with the scorer at alpha = 1."""
    from harness_plugins.activation_decoding.mc_scorer import MCScorer
    from harness_plugins.activation_decoding.settings import MethodSetting

    bench = TruthfulQAMC(methods=["greedy", "activation,alpha=0.5,info_layer=2,final_norm=true"], limit=6)
    ctx = TaskContext(task="t", seed=5)
    samples = bench.samples(None, ctx)
    results = bench.evaluate(adapters["llama"], samples, ctx)
    log_path = tmp_path / "samples.jsonl"
    log_path.write_text("".join(json.dumps(sample_record(r, s.doc, s.prompt)) + "\n" for r, s in zip(results, samples)))
    reloaded = [record_to_result(json.loads(line)) for line in log_path.read_text().splitlines()]
    agg = bench.aggregate(reloaded, ctx)
    key = "info_layer=2,final_norm=true"
    det = agg.details["detection"][key]
    recs = [(rec["true"], rec["entropy"][key], rec["logprob"], rec["n_tokens"]) for r in reloaded for rec in r.log["answers"].values()]
    y = [int(t) for t, *_ in recs]
    for signal in ("entropy_sum", "entropy_mean", "logprob_mean", "length"):
        scores = [signal_value(signal, e, lp, n) for _, e, lp, n in recs]
        assert det[signal]["auroc"] == pytest.approx(roc_auc_score(y, scores), abs=1e-12)
        assert agg.metrics[f"auroc/{key}/{signal}"] == det[signal]["auroc"]
    assert det["entropy_mean"]["ci_low"] <= det["entropy_mean"]["auroc"] <= det["entropy_mean"]["ci_high"]
    scorer = MCScorer(adapters["llama"], [MethodSetting.parse("activation,alpha=1,info_layer=2,final_norm=true")])
    answers = list(results[0].log["answers"])
    direct = scorer.score(samples[0].prompt, answers)
    for a, d in zip(answers, direct):
        assert results[0].log["answers"][a]["entropy"][key] == pytest.approx(d.logprob - d.scores["activation,alpha=1,info_layer=2,final_norm=true"], abs=1e-4)
        assert results[0].log["answers"][a]["entropy"][key] > 0


def test_binary_task_on_the_sample_and_selection_against_greedy(adapters):
    bench = TruthfulQABinary(methods=["greedy", "activation,alpha=1,info_layer=2"], selection="alternate", limit=6)
    ctx = TaskContext(task="b")
    samples = bench.samples(None, ctx)
    results = bench.evaluate(adapters["gpt2"], samples, ctx)
    for r, s in zip(results, samples):
        assert set(r.log["answers"]) == {s.doc["best"], s.doc["best_incorrect"]}
        lp = {a: x["logprob"] for a, x in r.log["answers"].items()}
        assert r.values["greedy/binary"] == (1.0 if lp[s.doc["best"]] > lp[s.doc["best_incorrect"]] else 0.0)
    agg = bench.aggregate(results, ctx)
    assert agg.details["binary_rule"] == RULE_FIRST
    vs = agg.details["selection"]["families"]["activation"]["vs_greedy"]["binary"]
    report = [r.values for r in results if r.values["fold"] == 1]
    chosen = agg.details["selection"]["families"]["activation"]["chosen"]
    assert vs["mean"] == pytest.approx(np.mean([v[f"{chosen}/binary"] - v["greedy/binary"] for v in report]))
    assert vs["wins"] + vs["losses"] + vs["ties"] == 3


def test_open_qa_entropy_signal_end_to_end(adapters):
    from harness_plugins.activation_decoding.benchmarks import OpenQAGeneration

    bench = OpenQAGeneration(decodings=["greedy"], max_new_tokens=3, limit=8, detect="info_layer=2,final_norm=true")
    ctx = TaskContext(task="q")
    samples = bench.samples(None, ctx)
    results = bench.evaluate(adapters["llama"], samples, ctx)
    recs = [r.log["signals"]["greedy"] for r in results if "greedy" in r.log["signals"]]
    assert recs and all(x["true"] == (r.values["greedy/em"] == 1.0) for r, x in zip(results, recs) if "greedy" in r.log["signals"])
    # tiny random models rarely answer right: force both classes to test the AUROC path
    for i, r in enumerate(results):
        if "greedy" in r.log["signals"]:
            r.log["signals"]["greedy"]["true"] = i % 2 == 0
    agg = bench.aggregate(results, ctx)
    det = agg.details["detection"]["greedy"]["info_layer=2,final_norm=true"]["entropy_mean"]
    used = [r.log["signals"]["greedy"] for r in results if "greedy" in r.log["signals"]]
    y = [int(x["true"]) for x in used]
    scores = [signal_value("entropy_mean", x["entropy"]["info_layer=2,final_norm=true"], x["logprob"], x["n_tokens"]) for x in used]
    assert det["auroc"] == pytest.approx(roc_auc_score(y, scores), abs=1e-12)
