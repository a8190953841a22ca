"""The CausalGym benchmark end to end on a tiny random model, against a hand computation."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch

from harness.benchmark import TaskContext
from harness.testing import tiny_adapter
from harness_plugins.causalgym.benchmark import CausalGymBenchmark


@pytest.fixture(scope="module")
def adapter():
    return tiny_adapter("llama", seed=0)


def test_a_cell_equals_the_paper_formula_computed_by_hand(adapter):
    """2 eval pairs, mean-difference direction: states from HF hidden_states, the intervention
    through a full forward with a hook, log-odds from log-softmax written out."""
    bench = CausalGymBenchmark(tasks=["agr_number_pp"], n_train=6, n_eval=2, methods=["mean"], layers=[2])
    ctx = TaskContext(task="t", seed=3)
    samples = bench.samples(adapter, ctx)
    sample = next(s for s in samples if s.doc["span"] == 1)  # the subject
    value = bench.evaluate(adapter, [sample], ctx)[0].values
    state = bench._state
    tok, model, site, span = adapter.tokenizer, adapter.model, 2, 1

    def state_at(text, pos):
        ids = tok(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            return model(input_ids=ids, output_hidden_states=True).hidden_states[site][0, pos]

    tr = state.train
    feats, labels = [], []
    for i in range(len(tr)):
        feats += [state_at(tr.texts[i][0], tr.base_pos[i][span]), state_at(tr.texts[i][1], tr.src_pos[i][span])]
        labels += [tr.base_class[i], tr.src_class[i]]
    X, y = torch.stack(feats).double(), torch.tensor(labels)
    w = X[y == 1].mean(0) - X[y == 0].mean(0)
    w = (w / w.norm()).float()

    ev = state.eval
    effects, controls = [], []
    for i in range(2):
        base_text, src_text = ev.texts[i]
        bpos, spos = ev.base_pos[i][span], ev.src_pos[i][span]
        h_src = state_at(src_text, spos)

        def edit(module, args, output):
            out = output.clone()
            h = out[0, bpos]
            out[0, bpos] = h + (h_src @ w - h @ w) * w
            return out

        ids = tok(base_text, add_special_tokens=False, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            clean = model(input_ids=ids).logits[0, -1].tolist()
            handle = adapter.layout.blocks[site - 1].register_forward_hook(edit)
            try:
                inter = model(input_ids=ids).logits[0, -1].tolist()
            finally:
                handle.remove()

        def lsm(row, k):
            return row[k] - math.log(sum(math.exp(v) for v in row))

        for labels_b, labels_s, sink in ((ev.base_label, ev.src_label, effects), (ev.base_control, ev.src_control, controls)):
            yb, ys = labels_b[i], labels_s[i]
            sink.append((lsm(inter, ys) - lsm(inter, yb)) - (lsm(clean, ys) - lsm(clean, yb)))
    assert value["n_eval"] == 2
    assert value["logodds"] == pytest.approx(sum(effects) / 2, abs=1e-4)
    assert value["control_logodds"] == pytest.approx(sum(controls) / 2, abs=1e-4)
    assert value["selectivity"] == pytest.approx(value["logodds"] - value["control_logodds"], abs=1e-9)


def test_sweep_cells_metrics_and_details(adapter):
    bench = CausalGymBenchmark(tasks=["agr_number_pp", "gss_subord"], n_train=8, n_eval=4,
                               methods=["das", "mean", "random"], layers=[1, 3], das={"epochs": 1, "converge": False})
    ctx = TaskContext(task="t", seed=1)
    samples = bench.samples(adapter, ctx)
    # agr_number_pp: spans 1..4; gss_subord: spans 1..4 (the subordinator span is empty for one type)
    assert len(samples) == 2 * 2 * 4 * 3 and len({s.id for s in samples}) == len(samples)
    results = bench.evaluate(adapter, samples, ctx)
    by_id = {r.sample_id: r.values for r in results}
    skipped = by_id["gss_subord/mean/site1/span1"]
    assert skipped["logodds"] is None and "non-empty" in skipped["skipped"]
    das = by_id["agr_number_pp/das/site3/span1"]
    assert das["train_steps"] == 2 and das["n_train"] == 8 and das["control_final_loss"] is not None
    out = bench.aggregate(results, ctx)
    for m in ("das", "mean", "random"):
        assert math.isfinite(out.metrics[f"logodds_{m}"]) and math.isfinite(out.metrics[f"selectivity_{m}"])
        assert 0 <= out.metrics[f"iia_{m}"] <= 1
    assert set(out.details["task_accuracy"]) == {"agr_number_pp", "gss_subord"}
    assert len(out.details["grid"]) == len(samples) and out.details["skipped_cells"] == 2 * 3
    curve = out.details["curves"]["agr_number_pp"]["mean"]
    assert set(curve) == {1, 3}
    best = max(v["logodds"] for v in out.details["grid"] if v["task"] == "agr_number_pp" and v["method"] == "mean" and v["site"] == 3)
    assert curve[3] == pytest.approx(best)


def test_arguments_are_checked():
    from harness.benchmark import TaskContext
    from harness.registry import FeaturizerSpec, Registry

    svm = CausalGymBenchmark(methods=["das", "svm"])  # methods are featurizer names, checked against the run's registry
    with pytest.raises(ValueError, match=r"unknown method\(s\) \['svm'\]; registered featurizers: das, kmeans, lda"):
        svm.samples(None, TaskContext(task="t"))  # no registry: the core's featurizers
    plugin_svm = Registry(featurizers={"das": FeaturizerSpec("das", object), "svm": FeaturizerSpec("svm", object)})
    with pytest.raises(TypeError, match="white-box model"):  # past the method check: a plugin registered svm
        svm.samples(None, TaskContext(task="t", registry=plugin_svm))
    with pytest.raises(ValueError, match="methods must be"):
        CausalGymBenchmark(methods="das")
    with pytest.raises(ValueError, match="unknown das option"):
        CausalGymBenchmark(das={"learning_rate": 1})
    with pytest.raises(ValueError, match="layers must be"):
        CausalGymBenchmark(layers="some")


def test_plugin_registers_without_importing_torch():
    code = ("import sys; import harness_plugins.causalgym.plugin as p; specs = p.harness_register_benchmarks(); "
            "assert specs[0].name == 'causalgym' and 'torch' not in sys.modules; print(len(specs[0].metrics))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "29"  # 7 methods x (log-odds, IIA, selectivity, sign-free selectivity) + task accuracy


def test_das_layers_subset_and_common_site_summary(adapter):
    from harness.benchmark import SampleResult

    bench = CausalGymBenchmark(tasks=["agr_pronoun"], n_train=4, n_eval=4, methods=["das", "mean"], layers=[1, 2, 3], das_layers=[2])
    ctx = TaskContext(task="t", seed=0)
    samples = bench.samples(adapter, ctx)
    assert {s.doc["site"] for s in samples if s.doc["method"] == "das"} == {2}
    assert {s.doc["site"] for s in samples if s.doc["method"] == "mean"} == {1, 2, 3}
    fake = [SampleResult(s.id, {**s.doc, "logodds": float(s.doc["site"]), "iia": 0.5, "selectivity": None, "task_accuracy": 1.0})
            for s in samples]
    out = bench.aggregate(fake, ctx)
    assert out.metrics["logodds_mean"] == pytest.approx(2.0) and out.metrics["logodds_das"] == pytest.approx(2.0)
    assert out.details["common_sites"] == [2]
    assert out.details["logodds_common_sites"] == {"das": pytest.approx(2.0), "mean": pytest.approx(2.0)}


def test_das_control_off_skips_only_das_retraining(adapter):
    bench = CausalGymBenchmark(tasks=["agr_pronoun"], n_train=8, n_eval=4, methods=["das", "mean"], layers=[2],
                               das_control=False)
    ctx = TaskContext(task="t", seed=0)
    by_key = {}
    for r in bench.evaluate(adapter, bench.samples(adapter, ctx), ctx):
        by_key.setdefault(r.values["method"], []).append(r.values)
    for das in by_key["das"]:
        assert das["control_logodds"] is None and das["selectivity"] is None and "control_final_loss" not in das
        assert das["logodds"] is not None and math.isfinite(das["logodds"])
    for mean in by_key["mean"]:
        assert mean["selectivity"] == pytest.approx(mean["logodds"] - mean["control_logodds"], abs=1e-9)


def test_positions_restrict_the_cells_and_unknown_names_are_refused(adapter):
    bench = CausalGymBenchmark(tasks=["agr_pronoun"], n_train=4, n_eval=4, methods=["mean"], layers=[1, 2], positions=["name"])
    samples = bench.samples(adapter, TaskContext(task="t", seed=0))
    assert {s.doc["position"] for s in samples} == {"name"} and len(samples) == 2
    with pytest.raises(ValueError, match=r"positions \['nom'\] not found \(known: name"):
        CausalGymBenchmark(tasks=["agr_pronoun"], n_train=4, n_eval=4, positions=["nom"]).samples(adapter, TaskContext(task="t", seed=0))
    with pytest.raises(ValueError, match="positions must be a non-empty list"):
        CausalGymBenchmark(positions="name")


def test_one_task_gets_a_standard_error_over_eval_pairs():
    """Per pair: its effect averaged over the cells the summary picks (best position per site)."""
    from harness.benchmark import SampleResult

    bench = CausalGymBenchmark(tasks=["t"], methods=["das", "random"], layers=[1, 2])

    def cell(method, site, span, effects):
        values = {"task": "t", "method": method, "site": site, "span": span, "logodds": sum(effects) / len(effects),
                  "iia": 0.5, "selectivity": None, "task_accuracy": 1.0}
        pairs = [{"pair": i, "effect": e} for i, e in enumerate(effects)]
        return SampleResult(f"t/{method}/site{site}/span{span}", values, {"pairs": pairs})

    results = [cell("das", 1, 1, [1.0, 2.0, 3.0]), cell("das", 1, 2, [0.0, 0.0, 0.1]),  # span 1 is picked at site 1
               cell("das", 2, 1, [3.0, 2.0, 4.0]),
               cell("random", 1, 1, [0.0, 0.1, -0.1]), cell("random", 2, 1, [0.1, 0.0, 0.0])]
    out = bench.aggregate(results, TaskContext(task="t", seed=0))
    per_pair = [(1 + 3) / 2, (2 + 2) / 2, (3 + 4) / 2]
    mean = sum(per_pair) / 3
    se = math.sqrt(sum((x - mean) ** 2 for x in per_pair) / 2 / 3)
    assert out.metrics["logodds_das"] == pytest.approx(mean) and out.stderr["logodds_das"] == pytest.approx(se)
    rand = [0.05, 0.05, -0.05]
    assert out.stderr["logodds_random"] == pytest.approx(math.sqrt(sum((x - sum(rand) / 3) ** 2 for x in rand) / 2 / 3))
