"""The lm-eval bridge both ways gives the same metrics as lm-eval's own HFLM on a local task."""

import json

import pytest

from testutil import run_cli

pytest.importorskip("lm_eval")

QUESTIONS = [
    ("What color is the sky on a clear day?", ["blue", "green", "red"], 0),
    ("How many legs does a dog have?", ["two", "four", "six"], 1),
    ("Which of these is a fruit?", ["carrot", "apple", "potato"], 1),
    ("What is two plus two?", ["three", "four", "five"], 1),
    ("What is the capital of France?", ["Paris", "Rome", "Berlin"], 0),
    ("Which animal barks?", ["cat", "dog", "cow"], 1),
    ("What do bees make?", ["honey", "milk", "silk"], 0),
]


@pytest.fixture(scope="module")
def local_task(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lmeval_task")
    data = folder / "mc.jsonl"
    data.write_text("".join(json.dumps({"question": q, "choices": c, "label": lab}) + "\n" for q, c, lab in QUESTIONS))
    (folder / "tiny_mc.yaml").write_text(f"""task: tiny_mc
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_target: "{{{{label}}}}"
doc_to_choice: "{{{{choices}}}}"
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
  - metric: acc_norm
    aggregation: mean
    higher_is_better: true
""")
    return folder


def local_tasks(task_dir):
    """Only the local task folder: indexing lm-eval's built-in tasks takes a minute on CI."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=str(task_dir), include_defaults=False)


def lm_eval_reference(model_dir, task_dir):
    import lm_eval
    from lm_eval.models.huggingface import HFLM

    hflm = HFLM(pretrained=str(model_dir), batch_size=2, device="cpu", dtype="float32")
    out = lm_eval.simple_evaluate(model=hflm, tasks=["tiny_mc"], task_manager=local_tasks(task_dir))
    return out["results"]["tiny_mc"]


def test_both_routes_equal_lm_eval_hflm(tiny_model_dir, local_task):
    import lm_eval

    import harness
    import harness.lmeval.model  # noqa: F401 - registers --model harness

    ref = lm_eval_reference(tiny_model_dir, local_task)
    assert 0 <= ref["acc,none"] <= 1

    # 1. our adapter as an lm-eval model, through lm-eval's own evaluator
    ours = lm_eval.simple_evaluate(model="harness", model_args=f"pretrained={tiny_model_dir}",
                                   tasks=["tiny_mc"], task_manager=local_tasks(local_task))["results"]["tiny_mc"]
    for key in ("acc,none", "acc_norm,none", "acc_stderr,none", "acc_norm_stderr,none"):
        assert ours[key] == pytest.approx(ref[key], abs=1e-9)

    # 2. the lm-eval task inside our runner, recorded like our own tasks
    doc = harness.run(harness.RunConfig(tasks=["lm_eval:tiny_mc"], include_paths=[local_task], progress=False,
                                        model_args={"pretrained": str(tiny_model_dir)}))
    assert doc["results"]["lm_eval:tiny_mc"]["acc"] == pytest.approx(ref["acc,none"], abs=1e-9)
    assert doc["results"]["lm_eval:tiny_mc"]["acc_norm"] == pytest.approx(ref["acc_norm,none"], abs=1e-9)
    assert doc["stderr"]["lm_eval:tiny_mc"]["acc"] == pytest.approx(ref["acc_stderr,none"], abs=1e-9)


def test_harness_lm_eval_command_passes_through(tiny_model_dir, local_task, tmp_path):
    res = run_cli(["lm-eval", "--model", "harness", "--model_args", f"pretrained={tiny_model_dir}", "--tasks", "tiny_mc",
                   "--include_path", str(local_task), "--output_path", str(tmp_path / "out")])
    assert res.returncode == 0, res.stderr[-3000:]
    results = list((tmp_path / "out").rglob("results_*.json"))
    assert results, res.stdout[-2000:]
    data = json.loads(results[0].read_text())
    assert data["config"]["model"] == "harness"
    assert 0 <= data["results"]["tiny_mc"]["acc,none"] <= 1
