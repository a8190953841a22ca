"""The ``llm_usage`` benchmark: directly, through ``harness run``, and on the shipped default task."""

from __future__ import annotations

import json

import pytest

from harness.benchmark import TaskContext
from harness_plugins.llm_usage.benchmark import LLMUsageValidation, in_holdout

from llm_usage_helpers import REPO, harness_cli, write_jsonl


def _docs(sentences, per_doc=5):
    return [". ".join(" ".join(s) for s in sentences[i : i + per_doc]) + "." for i in range(0, len(sentences), per_doc)]


@pytest.fixture(scope="module")
def corpora(tmp_path_factory, world):
    root = tmp_path_factory.mktemp("llm_usage_bench")
    human = _docs(world.human(3000))
    ai = _docs(world.ai(1500))
    write_jsonl(root / "human.jsonl", human)
    write_jsonl(root / "ai.jsonl", ai, extra={"source": [f"human.jsonl:{i + 1}" for i in range(len(ai))]})
    return root


def test_holdout_split_is_stable_and_about_the_right_size():
    ids = [f"doc:{i}" for i in range(4000)]
    held = [in_holdout(i, 0.3, 0) for i in ids]
    assert held == [in_holdout(i, 0.3, 0) for i in ids] and 0.27 < sum(held) / len(ids) < 0.33
    assert held != [in_holdout(i, 0.3, 1) for i in ids]


def test_benchmark_recovers_alpha_on_held_out_mixtures(corpora):
    bench = LLMUsageValidation(human=str(corpora / "human.jsonl"), ai=str(corpora / "ai.jsonl"), alphas=[0.0, 0.1, 0.2],
                               n_bootstrap=200, folds=3)
    ctx = TaskContext(task="t", seed=1)
    samples = bench.samples(None, ctx)
    assert [s.id for s in samples] == ["alpha=0", "alpha=0.1", "alpha=0.2"]
    results = bench.evaluate(None, samples, ctx)
    agg = bench.aggregate(results, ctx)
    assert agg.n_samples == 3 and set(agg.metrics) >= {"mae", "mae_corrected", "coverage", "bias_at_zero"}
    assert agg.metrics["mae"] < 0.03 and agg.metrics["mae_corrected"] < 0.03
    for r in results:
        assert r.values["ci_low"] <= r.values["alpha"] <= r.values["ci_high"]
    assert agg.details["held_out_sentences"]["ai"] > 0 and len(agg.details["mixtures"]) == 3
    # Held-out documents only: an AI document follows its source human document.
    fit_h, held_h = agg.details["documents_fit_heldout"]["human"]
    assert fit_h > held_h > 0


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="holdout"):
        LLMUsageValidation(holdout=1.5)
    with pytest.raises(ValueError, match="alphas"):
        LLMUsageValidation(alphas=[0.1, 3])


@pytest.mark.slow
def test_harness_run_with_a_task_file(corpora, tmp_path):
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "mine.yaml").write_text(
        "task: llm_usage_mine\nbenchmark: llm_usage\n"
        f"args: {{human: '{corpora / 'human.jsonl'}', ai: '{corpora / 'ai.jsonl'}', alphas: [0, 0.2], n_bootstrap: 100, folds: 3}}\n",
        encoding="utf-8",
    )
    res = harness_cli("--include-path", str(tasks), "run", "--tasks", "llm_usage_mine", "--output-path", str(tmp_path / "out"), "--no-progress")
    assert res.returncode == 0, res.stderr
    (results_file,) = (tmp_path / "out").rglob("results_*.json")
    doc = json.loads(results_file.read_text())
    assert doc["results"]["llm_usage_mine"]["mae"] < 0.05 and not doc["errors"]


@pytest.mark.slow
def test_shipped_default_task_runs_on_the_shipped_corpus():
    import yaml

    cfg = yaml.safe_load((REPO / "tasks" / "llm_usage" / "llm_usage_sotu.yaml").read_text())
    assert "default" in cfg["tags"] and cfg["benchmark"] == "llm_usage"
    args = {**cfg["args"], "n_bootstrap": 100}
    bench = LLMUsageValidation(**args)
    ctx = TaskContext(task=cfg["task"], seed=1234)
    agg = bench.aggregate(bench.evaluate(None, bench.samples(None, ctx), ctx), ctx)
    assert agg.details["vocabulary"] > 50
    assert 0 <= agg.metrics["mae"] < 0.15  # a small shipped AI corpus: a loose but real bound
