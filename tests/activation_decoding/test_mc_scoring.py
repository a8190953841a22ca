"""Multiple-choice scores on tiny models against independent recomputations."""

import pytest
import torch
import torch.nn.functional as F
from scipy.spatial.distance import jensenshannon

from harness.models.base import LoglikelihoodRequest
from harness_plugins.activation_decoding.benchmarks import DATA_DIR
from harness_plugins.activation_decoding.entropy import position_entropy
from harness_plugins.activation_decoding.mc_scorer import MCScorer
from harness_plugins.activation_decoding.settings import MethodSetting
from harness_plugins.activation_decoding.truthfulqa import load_truthfulqa, mc_metrics

QUESTIONS = load_truthfulqa(DATA_DIR / "truthfulqa_sample.csv")
QUESTION = QUESTIONS[3]
HEAD = "Q: Is water wet?\nA: Yes, water is wet.\n\nQ: What colour is grass?\nA: Grass is green.\n\n"  # a short primer keeps tests fast


def short_prompt(question):
    return f"{HEAD}Q: {question}\nA:"
SPECS = ["greedy", "activation,alpha=0,info_layer=1", "activation,alpha=0.7,info_layer=2",
         "activation,alpha=0.3,info_layer=-1,final_norm=true", "dola,layers=0+1+2", "activation_dola,alpha=0.5,info_layer=1,layers=0+2"]


def scorer(adapter, **kw):
    return MCScorer(adapter, [MethodSetting.parse(s) for s in SPECS], **kw)


@pytest.mark.parametrize("arch", ["llama", "gpt2", "neox"])
def test_alpha_zero_is_plain_loglikelihood(adapters, arch):
    ad = adapters[arch]
    prompt, answers = short_prompt(QUESTION.question), QUESTION.answers()
    got = scorer(ad).score(prompt, answers)
    ref = ad.loglikelihood([LoglikelihoodRequest(prompt, " " + a) for a in answers])
    for g, r in zip(got, ref):
        assert g.n_tokens == len(r.tokens)
        assert g.scores["greedy"] == pytest.approx(r.logprob, abs=1e-4)
        assert g.scores["activation,alpha=0,info_layer=1"] == pytest.approx(r.logprob, abs=1e-4)
    plain = mc_metrics({a: r.logprob for a, r in zip(answers, ref)}, QUESTION)
    ours = mc_metrics({a: g.scores["activation,alpha=0,info_layer=1"] for a, g in zip(answers, got)}, QUESTION)
    assert ours == pytest.approx(plain, abs=1e-6)


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_prefix_cache_changes_nothing(adapters, arch):
    ad = adapters[arch]
    prompt, answers = short_prompt(QUESTION.question), QUESTION.answers()
    cached, plain = scorer(ad).score(prompt, answers), scorer(ad, use_prefix_cache=False).score(prompt, answers)
    for a, b in zip(cached, plain):
        assert a.scores == pytest.approx(b.scores, abs=1e-4)


def test_reusing_the_previous_primer_changes_nothing(adapters):
    ad = adapters["neox"]
    other = QUESTIONS[5]
    warm = scorer(ad)
    warm.score(short_prompt(other.question), other.answers())
    prompt, answers = short_prompt(QUESTION.question), QUESTION.answers()
    reused = warm.score(prompt, answers)
    assert warm._last is not None and len(warm._last[0]) > 20  # the primer was kept
    fresh = scorer(ad, use_prefix_cache=False).score(prompt, answers)
    for a, b in zip(reused, fresh):
        assert a.scores == pytest.approx(b.scores, abs=1e-4)


def brute_force_scores(ad, prompt, answer):
    """Every score from a plain forward over prompt + answer, written out token by token."""
    ref = ad.loglikelihood([LoglikelihoodRequest(prompt, " " + answer)])[0]
    toks = list(ref.tokens)
    n_layers = ad.num_layers
    out = ad.forward([prompt + " " + answer], sites=list(range(n_layers + 1)))
    n = out.lengths[0]
    start = n - len(toks) - 1  # position predicting the first answer token
    W = ad.model.get_output_embeddings().weight.double()
    norm = ad.model.base_model.norm if hasattr(ad.model.base_model, "norm") else None

    def E(layer, final_norm):
        h = out.states[layer][0, :n]
        if final_norm:
            h = norm(h)
        return position_entropy((h.double() @ W.T))[toks]

    lp = torch.tensor(ref.token_logprobs, dtype=torch.float64)

    def dola(cands):
        vals = []
        for t, tok in enumerate(toks):
            final = F.log_softmax(out.logits[0, start + t].double(), -1)
            prem = [F.log_softmax(ad.unembed(out.states[c][0, start + t], final_norm=True).double(), -1) for c in cands]
            jsd = [jensenshannon(final.exp().numpy(), p.exp().numpy()) ** 2 for p in prem]
            chosen = prem[max(range(len(cands)), key=lambda i: jsd[i])]
            vals.append(F.log_softmax(final - chosen, -1)[tok])
        return torch.stack(vals)

    return {
        "greedy": lp.sum(),
        "activation,alpha=0.7,info_layer=2": (lp - 0.7 * E(2, False)).sum(),
        "activation,alpha=0.3,info_layer=-1,final_norm=true": (lp - 0.3 * E(n_layers, True)).sum(),
        "dola,layers=0+1+2": dola([0, 1, 2]).sum(),
        "activation_dola,layers=0+2,alpha=0.5,info_layer=1": (dola([0, 2]) - 0.5 * E(1, False)).sum(),
    }


def test_every_method_matches_brute_force(adapters):
    ad = adapters["llama"]
    prompt, answers = short_prompt(QUESTION.question), QUESTION.answers()[:2]
    got = scorer(ad).score(prompt, answers)
    for answer, g in zip(answers, got):
        for label, value in brute_force_scores(ad, prompt, answer).items():
            assert g.scores[label] == pytest.approx(float(value), abs=2e-3), (answer, label)
    # the entropy term is not a no-op on this model
    assert abs(got[0].scores["activation,alpha=0.7,info_layer=2"] - got[0].scores["greedy"]) > 0.1


def test_bad_settings_fail_early(adapters):
    with pytest.raises(ValueError, match="needs info_layer"):
        MethodSetting.parse("activation,alpha=1")
    with pytest.raises(ValueError, match="unknown parameter"):
        MethodSetting.parse("activation,alpha=1,info_layer=2,beta=3")
    with pytest.raises(ValueError, match="outside 0..3"):
        MCScorer(adapters["llama"], [MethodSetting.parse("activation,alpha=1,info_layer=9")])
