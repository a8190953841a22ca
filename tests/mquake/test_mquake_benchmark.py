"""The benchmark through the real runner on a tiny model: samples, logs, metrics, k-groups, weight editing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from harness.runner import RunConfig, run
from harness.tasks import TaskConfigError

EDITOR_CALLS: list[list[str]] = []


class RecordingEditor:
    """A stand-in weight editor: records each group's edits and perturbs the weights."""

    def apply(self, adapter, edits):
        import torch

        EDITOR_CALLS.append([e.sentence for e in edits])
        with torch.no_grad():
            next(adapter.model.parameters()).add_(1.0)


@pytest.fixture(scope="module")
def tiny():
    from harness.testing import tiny_adapter

    return tiny_adapter("llama")


def _task(tmp_path, name: str, **args) -> str:
    """A task file like the shipped ones, with short generations to keep the tests fast."""
    body = "\n".join(f"  {k}: {v}" for k, v in {"data": "mquake_mini.json", "max_new_tokens": 8, **args}.items())
    (tmp_path / "tasks").mkdir(exist_ok=True)
    (tmp_path / "tasks" / f"{name}.yaml").write_text(f"task: {name}\nbenchmark: mquake\nargs:\n{body}\n")
    return name


def _run(tmp_path, tiny, task, limit=3):
    cfg = RunConfig(tasks=[task], limit=limit, output_path=tmp_path / "out", log_samples=True, progress=False, include_paths=[tmp_path / "tasks"])
    doc = run(cfg, adapter=tiny)
    assert not doc["errors"], doc["errors"]
    lines = [json.loads(l) for f in sorted(tmp_path.rglob(f"samples_{task}_*.jsonl")) for l in f.read_text().splitlines()]
    return doc, lines


def test_mello_task_logs_every_iteration(tmp_path, tiny):
    task = _task(tmp_path, "t_mello", method="mello", k="all", max_iterations=1)
    doc, lines = _run(tmp_path, tiny, task)
    metrics = doc["results"][task]
    assert metrics["multihop_acc"] == 0.0  # random weights cannot answer
    assert metrics["parse_failure_rate"] + metrics["max_iterations_rate"] == pytest.approx(1.0)
    assert len(lines) == 3 and [l["sample_id"] for l in lines] == ["1", "5", "3"]
    for line in lines:
        assert line["doc"]["group_size"] == 3  # k=all over the 3 evaluated cases
        for q in line["log"]["questions"]:
            assert q["iterations"] and all("generation" in it and "finish_reason" in it for it in q["iterations"])
            assert q["transcript"].startswith("Question: ")
        assert line["values"]["questions"] == 3  # nothing solved: all paraphrases asked
    counts = doc["details"][task]["counts"]
    assert counts["questions"] == 9 and counts["parse_failures"] + counts["max_iterations"] == 9


@pytest.mark.parametrize("args, expect, group_size", [
    ({"method": "incontext", "k": 1, "edit_wise": True, "instance_wise": True}, {"edit_acc", "instance_acc"}, 1),
    ({"method": "noedit", "prompting": "cot"}, {"hop_acc"}, 2),
])
def test_prompting_tasks(tmp_path, tiny, args, expect, group_size):
    task = _task(tmp_path, "t_prompting", **args)
    doc, lines = _run(tmp_path, tiny, task, limit=2)
    assert expect <= set(doc["results"][task]) and "multihop_acc" in doc["results"][task]
    assert all(line["doc"]["group_size"] == group_size for line in lines)
    if "edit_acc" in expect:
        assert all(len(line["log"]["edit_clozes"]) == len(line["doc"]["edits"]) for line in lines)


def test_weight_edit_groups_and_restores(tmp_path, tiny):
    import torch

    from harness.benchmark import TaskContext
    from harness_plugins.mquake.benchmark import MQuAKEBenchmark

    before = [p.detach().clone() for p in tiny.model.parameters()]
    EDITOR_CALLS.clear()
    bench = MQuAKEBenchmark(method="weight_edit", k=2, editor=f"{__name__}:RecordingEditor", n_questions=1, edit_wise=True)
    ctx = TaskContext(task="t", limit=4)
    samples = bench.samples(tiny, ctx)
    results = bench.evaluate(tiny, samples, ctx)
    # Cases 1, 5 | 3, 7 in groups of k=2; each group's edits applied once, together.
    assert EDITOR_CALLS == [
        ["Eiffel Tower is located in the country of Italy", "Imagine was performed by Elvis Presley"],
        ["Bill Gates is a citizen of Brazil", "Machu Picchu is located in the country of Chile", "The currency of Chile is Euro"],
    ]
    assert all(torch.equal(a, b) for a, b in zip(before, tiny.model.parameters()))
    assert all("edits" in r.values for r in results)


def test_bad_arguments_name_the_task_file(tmp_path):
    (tmp_path / "bad.yaml").write_text("task: mq_bad\nbenchmark: mquake\nargs:\n  method: telepathy\n")
    with pytest.raises(TaskConfigError, match=r"bad\.yaml:3: task 'mq_bad': invalid arguments.*method must be one of"):
        run(RunConfig(tasks=["mq_bad"], include_paths=[tmp_path], progress=False), adapter=object())


def test_plugin_module_imports_no_torch():
    code = "import sys, harness_plugins.mquake.plugin as p; p.harness_register_benchmarks(); print(any(m.split('.')[0] in ('torch', 'transformers') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_weight_edit_with_a_builtin_editor_through_the_runner(tmp_path, tiny, monkeypatch):
    import torch

    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))

    before = [p.detach().clone() for p in tiny.model.parameters()]
    task = _task(tmp_path, "t_rome", method="weight_edit", k=2, n_questions=1, edit_wise="true",
                 editor="harness_plugins.mquake.editors:ROMEEditor",
                 editor_args="{layer: 2, n_prefixes: 1, steps: 2, cov_tokens: 300}")
    doc, lines = _run(tmp_path, tiny, task, limit=4)
    details = doc["details"][task]["weight_edit"]
    assert details["groups"] == 2 and details["weights_restored_checked"] == 2 and details["edits"] == 5
    assert all(line["log"]["weight_edit"]["weights_restored"] for line in lines)
    assert "edit_acc" in doc["results"][task]
    assert all(torch.equal(a, b) for a, b in zip(before, tiny.model.parameters()))
    assert len(list((tmp_path / "cache").rglob("mquake_cov/mlp_key_L2_300tok_128.pt"))) == 1  # the run's per-model cache


def test_restoration_check_catches_a_changed_projection(tiny):
    import torch

    from harness_plugins.mquake.editing import check_restored
    from harness_plugins.mquake.editors import MEMITEditor

    snap = check_restored(tiny, MEMITEditor(layers=[1, 3]), None)
    assert sorted(snap) == [1, 3]
    weight, _ = tiny.mlp_projection(3)
    with torch.no_grad():
        weight[0, 0] += 1e-6
    try:
        with pytest.raises(RuntimeError, match=r"layers \[3\] were not restored"):
            check_restored(tiny, MEMITEditor(layers=[1, 3]), snap)
    finally:
        with torch.no_grad():
            weight.copy_(snap[3])
    check_restored(tiny, MEMITEditor(layers=[1, 3]), snap)


def test_weight_edit_groups_are_evaluated_whole(tmp_path, tiny):
    from harness.benchmark import TaskContext
    from harness_plugins.mquake.benchmark import MQuAKEBenchmark

    bench = MQuAKEBenchmark(method="weight_edit", k=3, editor=f"{__name__}:RecordingEditor")
    bench.samples(tiny, TaskContext(task="t"))
    assert bench.samples_per_call % 3 == 0 and type(bench).samples_per_call == 16
    bench = MQuAKEBenchmark(method="weight_edit", k="all", editor=f"{__name__}:RecordingEditor")
    bench.samples(tiny, TaskContext(task="t"))
    assert bench.samples_per_call % 8 == 0  # whole groups of the 8 mquake_mini cases per call


EDITOR_TASKS = sorted(p for m in ("ft", "rome", "memit") for p in (__import__("pathlib").Path(__file__).resolve().parents[2] / "tasks" / "mquake").glob(f"*_{m}_k*.yaml"))


def test_every_editor_has_tasks():
    # hard: 3 editors x (k=1, k=all) + FT with a looser bound + ROME/MEMIT k=1 with CoT; mini: one each
    assert len(EDITOR_TASKS) == 12


@pytest.mark.parametrize("path", EDITOR_TASKS, ids=lambda p: p.stem)
def test_shipped_editor_tasks_build_their_editor(path):
    import yaml

    from harness.registry import resolve
    from harness_plugins.mquake.benchmark import MQuAKEBenchmark

    args = yaml.safe_load(path.read_text())["args"]
    bench = MQuAKEBenchmark(**args)
    editor = resolve(bench.editor_ref)(**bench.editor_args)
    assert type(editor).__name__ in ("FTEditor", "ROMEEditor", "MEMITEditor") and hasattr(editor, "apply")
