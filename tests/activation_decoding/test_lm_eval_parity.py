"""Our MC2 at alpha = 0 equals lm-eval's TruthfulQA MC2 computation on the same model and prompts.

Two levels: lm-eval's loglikelihood + ``process_results_mc2`` on our prompts (tiny model), and
lm-eval's own ``truthfulqa_mc2`` task end to end (its YAML prompt, choices, target delimiter,
request construction and ``process_results``), fed our questions as a custom dataset in the hub
``multiple_choice`` format, against our benchmark reading the same records from a JSONL file.
"""

import functools
import json
from pathlib import Path

import pytest

from harness_plugins.activation_decoding.benchmarks import DATA_DIR, TruthfulQAMC
from harness_plugins.activation_decoding.mc_scorer import MCScorer
from harness_plugins.activation_decoding.settings import MethodSetting
from harness_plugins.activation_decoding.truthfulqa import load_truthfulqa, mc_metrics, mc_prompt

lm_eval = pytest.importorskip("lm_eval")

REFDATA = Path(__file__).resolve().parents[3] / "shared" / "refdata" / "truthfulqa" / "TruthfulQA-dev400.csv"
ALPHA_ZERO = ["greedy", "activation,alpha=0,info_layer=2", "activation,alpha=0,info_layer=-1,final_norm=true"]


@pytest.mark.slow
def test_mc2_equals_lm_eval(adapters):
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks.truthfulqa.utils import process_results_mc2

    ad = adapters["llama"]
    lm = HFLM(pretrained=ad.model, tokenizer=ad.tokenizer, batch_size=8, device="cpu")
    settings = [MethodSetting.parse("greedy"), MethodSetting.parse("activation,alpha=0,info_layer=2")]
    ours = MCScorer(ad, settings)
    checked = 0
    for q in load_truthfulqa(DATA_DIR / "truthfulqa_sample.csv")[:2]:
        prompt = mc_prompt(q.question)
        choices = q.correct + q.incorrect
        doc = {"mc2_targets": {"choices": choices, "labels": [1] * len(q.correct) + [0] * len(q.incorrect)}}
        reqs = [Instance(request_type="loglikelihood", doc=doc, arguments=(prompt, " " + c), idx=i) for i, c in enumerate(choices)]
        theirs = process_results_mc2(doc, lm.loglikelihood(reqs, disable_tqdm=True))["acc"]
        scored = dict(zip(q.answers(), ours.score(prompt, q.answers())))
        for s in settings:
            mc2 = mc_metrics({a: r.scores[s.label] for a, r in scored.items()}, q)["mc2"]
            assert mc2 == pytest.approx(float(theirs), abs=1e-4)
        checked += 1
    assert checked == 2


def hub_records(questions) -> list[dict]:
    """Our questions as hub ``truthful_qa`` ``multiple_choice`` records (best answer first in mc1)."""
    return [{
        "question": q.question,
        "mc1_targets": {"choices": [q.best, *q.mc1_incorrect], "labels": [1] + [0] * len(q.mc1_incorrect)},
        "mc2_targets": {"choices": [*q.correct, *q.incorrect], "labels": [1] * len(q.correct) + [0] * len(q.incorrect)},
    } for q in questions]


@functools.lru_cache(maxsize=1)
def lm_eval_tasks():
    """lm-eval's task index, built once per test session (indexing its task files takes ~20-60 s)."""
    from lm_eval.tasks import TaskManager

    return TaskManager()


def lm_eval_mc2_task(records: list[dict]):
    """lm-eval's registered ``truthfulqa_mc2`` task (its YAML) reading ``records`` instead of the hub."""
    import datasets

    manager = lm_eval_tasks()
    return manager._factory._build_task(
        manager._entry("truthfulqa_mc2"),
        overrides={"custom_dataset": lambda **_: datasets.DatasetDict({"validation": datasets.Dataset.from_list(records)})},
    )


def lm_eval_task_mc2(adapter, records: list[dict]) -> list[float]:
    """Per-question MC2 from lm-eval's ``truthfulqa_mc2`` task and ``HFLM``."""
    from lm_eval.models.huggingface import HFLM

    task = lm_eval_mc2_task(records)
    lm = HFLM(pretrained=adapter.model, tokenizer=adapter.tokenizer, batch_size=8, device="cpu")
    out = []
    for i, doc in enumerate(task.validation_docs()):
        ctx = task.fewshot_context(doc, num_fewshot=0)
        assert ctx == mc_prompt(doc["question"]), "lm-eval's truthfulqa_mc2 prompt differs from ours"
        reqs = task.construct_requests(doc, ctx, metadata=("truthfulqa_mc2", i, 1))
        assert [r.arguments[1] for r in reqs] == [" " + c for c in doc["mc2_targets"]["choices"]]
        out.append(float(task.process_results(doc, lm.loglikelihood(reqs, disable_tqdm=True))["acc"]))
    return out


def our_benchmark_mc2(adapter, path: Path) -> list[dict[str, float]]:
    bench = TruthfulQAMC(path=str(path), methods=ALPHA_ZERO)
    samples = bench.samples(adapter, None)
    return [{s: r.values[f"{MethodSetting.parse(s).label}/mc2"] for s in ALPHA_ZERO} for r in bench.evaluate(adapter, samples, None)]


def assert_task_parity(adapter, questions, tmp_path: Path) -> None:
    records = hub_records(questions)
    path = tmp_path / "tqa_mc.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    theirs = lm_eval_task_mc2(adapter, records)
    ours = our_benchmark_mc2(adapter, path)
    assert len(ours) == len(theirs) == len(questions)
    for per_setting, their_mc2 in zip(ours, theirs):
        for spec, mc2 in per_setting.items():
            assert mc2 == pytest.approx(their_mc2, abs=1e-4), spec
    assert max(theirs) - min(theirs) > 1e-3  # the questions are not all scored alike


@pytest.mark.slow
def test_mc2_equals_lm_eval_truthfulqa_task(adapters, tmp_path):
    assert_task_parity(adapters["llama"], load_truthfulqa(DATA_DIR / "truthfulqa_sample.csv")[:3], tmp_path)


@pytest.mark.slow
@pytest.mark.refdata
@pytest.mark.skipif(not REFDATA.exists(), reason="../shared/refdata is absent")
def test_mc2_equals_lm_eval_on_smollm2_reference_questions(tmp_path):
    from harness.models.embedded import EmbeddedModelMissing, load_embedded

    try:
        adapter = load_embedded("smollm2-135m")
    except EmbeddedModelMissing as err:
        pytest.skip(str(err))
    assert_task_parity(adapter, load_truthfulqa(REFDATA)[:2], tmp_path)


@pytest.mark.refdata
@pytest.mark.skipif(not REFDATA.exists(), reason="../shared/refdata is absent")
def test_lm_eval_prompts_and_continuations_equal_ours_on_all_reference_questions():
    questions = load_truthfulqa(REFDATA)
    task = lm_eval_mc2_task(hub_records(questions))
    docs = list(task.validation_docs())
    assert len(docs) == len(questions) == 400
    for i, (doc, q) in enumerate(zip(docs, questions)):
        ctx = task.fewshot_context(doc, num_fewshot=0)
        assert ctx == mc_prompt(q.question)
        assert [r.arguments for r in task.construct_requests(doc, ctx, metadata=("truthfulqa_mc2", i, 1))] == [(ctx, " " + a) for a in q.correct + q.incorrect]
