"""Our MC2 at alpha = 0 equals lm-eval's TruthfulQA MC2 computation on the same model and prompts."""

import pytest

from plugins.activation_decoding.benchmarks import DATA_DIR
from plugins.activation_decoding.mc_scorer import MCScorer
from plugins.activation_decoding.settings import MethodSetting
from plugins.activation_decoding.truthfulqa import load_truthfulqa, mc_metrics, mc_prompt

lm_eval = pytest.importorskip("lm_eval")


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
