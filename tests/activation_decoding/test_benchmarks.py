"""The two benchmarks end to end on a tiny model, and choose-on-one-split/report-on-the-other."""

import os
import subprocess
import sys

import pytest

from harness.benchmark import SampleResult, TaskContext
from harness.registry import BenchmarkSpec, DecoderSpec, check_spec
from harness.tasks import TaskIndex, check_args, instantiate
from harness_tasks import task_dir
from harness_plugins.activation_decoding import plugin
from harness_plugins.activation_decoding.benchmarks import OpenQAGeneration, TruthfulQABinary, TruthfulQAMC
from harness_plugins.activation_decoding.selection import aggregate_settings


def test_selection_by_hand():
    values = [
        {"fold": 0, "a,x=1/m": 1.0, "a,x=2/m": 0.0, "g/m": 0.5},
        {"fold": 1, "a,x=1/m": 0.0, "a,x=2/m": 1.0, "g/m": 0.25},
        {"fold": 0, "a,x=1/m": 1.0, "a,x=2/m": 0.0, "g/m": 0.5},
        {"fold": 1, "a,x=1/m": 0.5, "a,x=2/m": 1.0, "g/m": 0.75},
    ]
    res = aggregate_settings(values, ["g", "a,x=1", "a,x=2"], ("m",), "m", selection=True)
    assert res.metrics["m"] == res.metrics["g/m"] == pytest.approx(0.5)
    assert res.metrics["a,x=2/m"] == pytest.approx(0.5)
    fams = res.details["selection"]["families"]
    assert fams["a"]["chosen"] == "a,x=1"  # best on fold 0 ...
    assert res.metrics["best_a/m"] == pytest.approx(0.25)  # ... reported on fold 1 only
    assert res.metrics["best_g/m"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="both folds"):
        aggregate_settings(values[:1], ["g"], ("m",), "m", selection=True)


def test_truthfulqa_mc_end_to_end(adapters):
    bench = TruthfulQAMC(methods=["greedy", "activation,alpha=0,info_layer=1"], sweep={"alpha": [1.0], "info_layer": [2], "dola_layers": ["0+1"]},
                         selection="alternate", limit=2)
    ctx = TaskContext(task="t")
    samples = bench.samples(None, ctx)
    assert [s.doc["fold"] for s in samples] == [0, 1]
    results = bench.evaluate(adapters["llama"], samples, ctx)
    agg = bench.aggregate(results, ctx)
    assert set(bench.labels) == {"greedy", "activation,alpha=0,info_layer=1", "dola,layers=0+1",
                                 "activation,alpha=1,info_layer=2", "activation_dola,layers=0+1,alpha=1,info_layer=2"}
    for m in ("mc1", "mc2", "mc3"):
        assert 0.0 <= agg.metrics[m] <= 1.0
        assert agg.metrics[f"activation,alpha=0,info_layer=1/{m}"] == pytest.approx(agg.metrics[f"greedy/{m}"], abs=1e-9)
        assert f"best_activation_dola/{m}" in agg.metrics
    assert agg.details["selection"]["families"]["activation"]["n_candidates"] == 2


def test_open_qa_end_to_end(adapters):
    bench = OpenQAGeneration(decodings=["greedy", "activation,alpha=0,info_layer=2", "dola,layers=0+1"], max_new_tokens=3, limit=3)
    ctx = TaskContext(task="q")
    samples = bench.samples(None, ctx)
    results = bench.evaluate(adapters["gpt2"], samples, ctx)
    for r in results:
        preds = r.log["predictions"]
        assert preds["greedy"] == preds["activation,alpha=0,info_layer=2"]
        assert r.values["greedy/em"] in (0.0, 1.0)
    agg = bench.aggregate(results, ctx)
    assert agg.metrics["em"] == agg.metrics["greedy/em"]


def test_registrations_and_task_files():
    for spec in plugin.harness_register_benchmarks():
        check_spec(spec, BenchmarkSpec, "activation_decoding")
        assert spec.load() in (TruthfulQAMC, TruthfulQABinary, OpenQAGeneration)
    for spec in plugin.harness_register_decoders():
        check_spec(spec, DecoderSpec, "activation_decoding")
        assert callable(spec.load())
    index = TaskIndex.scan([task_dir("activation_decoding")])
    assert not index.errors
    benches = {s.name: s.load() for s in plugin.harness_register_benchmarks()}
    defaults = [t for t in index.tasks.values() if "default" in t.tags]
    assert len(defaults) == 1  # one default task per plugin (the default suite must stay about a minute)
    for task in index.tasks.values():
        check_args(task, benches[task.benchmark])  # every shipped task's arguments are valid
        if "$HARNESS_REFDATA" not in str(task.args) or os.environ.get("HARNESS_REFDATA"):
            instantiate(task, benches[task.benchmark])  # and build (a refdata task only where the data is)


def test_bad_task_arguments():
    with pytest.raises(ValueError, match="unknown method"):
        TruthfulQAMC(methods=["beam"])
    with pytest.raises(ValueError, match="selection must be"):
        TruthfulQAMC(selection="random")
    with pytest.raises(ValueError, match="sweep: unknown key"):
        TruthfulQAMC(sweep={"alphas": [1]})


def test_plugin_module_imports_no_torch():
    code = "import sys, harness_plugins.activation_decoding.plugin as p; p.harness_register_benchmarks(); p.harness_register_decoders(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_report_tables(tmp_path):
    import json

    from harness_plugins.activation_decoding.report import from_sample_log, grid_table, selection_table

    labels = ["greedy", "activation,alpha=0.5,info_layer=2", "activation,alpha=1,info_layer=2,final_norm=true"]
    lines = []
    for i in range(4):
        values = {"fold": i % 2}
        for j, lab in enumerate(labels):
            values.update({f"{lab}/mc1": float(i % 2), f"{lab}/mc2": 0.1 * (i + j), f"{lab}/mc3": 0.5})
        lines.append(json.dumps({"sample_id": str(i), "values": values}))
    log = tmp_path / "samples.jsonl"
    log.write_text("\n".join(lines) + "\n")
    metrics, stderr, details = from_sample_log(log)
    table = selection_table(metrics, stderr, details)
    assert "`activation,alpha=1,info_layer=2,final_norm=true` (2)" in table
    grid = grid_table(metrics, "activation")
    assert "| - | 2 | no | 0.250 |" in grid.replace(" nan |", "")  # mean MC2 of alpha=0.5 without norm: (0.1+0.2+0.3+0.4)/4


def test_length_control_from_sample_log(tmp_path):
    import json

    from harness_plugins.activation_decoding.report import length_control

    def row(fold, long_correct):
        doc = {"id": f"q{fold}", "question": "q", "best": "Yes it is true.", "correct": ["Yes it is true."], "incorrect": ["No."],
               "mc1_incorrect": ["No."], "category": "", "fold": fold}
        answers = {"Yes it is true.": {"logprob": -4.0, "n_tokens": 5 if long_correct else 1}, "No.": {"logprob": -5.0, "n_tokens": 2}}
        return json.dumps({"doc": doc, "log": {"answers": answers}})

    log = tmp_path / "samples.jsonl"
    log.write_text(row(0, True) + "\n" + row(1, True) + "\n")
    metrics, _, details = length_control(log, betas=(0.0, 2.0))
    assert metrics["length,beta=0/mc1"] == 1.0  # -4 > -5
    assert metrics["length,beta=0/mc2"] == pytest.approx(1 / (1 + 2.718281828459045 ** -1))
    assert metrics["length,beta=2/mc1"] == 0.0  # -4 - 10 < -5 - 4: the penalty flips the long correct answer
    assert details["selection"]["families"]["length"]["chosen"] == "length,beta=0"
    assert metrics["best_length/mc1"] == 1.0


def test_the_runner_hands_the_registered_decoders_to_the_adapter(tiny_model_dir, tmp_path):
    """End to end through the real CLI: ``activation,...`` in a task is found in the registry the
    runner passes to the adapter it loads (no module state, no second plugin load)."""
    import json

    from testutil import run_cli

    res = run_cli(["run", "--tasks", "activation_decoding_openqa_sample", "--limit", "2", "--no-progress",
                   "--model-args", f"pretrained={tiny_model_dir}", "--output-path", str(tmp_path)])
    assert res.returncode == 0, res.stderr[-3000:]
    doc = json.loads(next(tmp_path.glob("*/results_*.json")).read_text())
    settings = doc["details"]["activation_decoding_openqa_sample"]["settings"]
    assert set(settings) == {"greedy", "activation,alpha=0.5,info_layer=-1,final_norm=true"}
    assert doc["tasks"]["activation_decoding_openqa_sample"]["n_samples"] == 2 and not doc["errors"]
