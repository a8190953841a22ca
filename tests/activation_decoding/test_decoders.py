"""Decoding rules inside the core's generation loop, against a slow token-by-token reference."""

import pytest
import torch
import torch.nn.functional as F
from scipy.spatial.distance import jensenshannon

from harness.models.base import GenerationRequest
from harness_plugins.activation_decoding import decoders
from harness_plugins.activation_decoding.contrast import relative_top_mask
from harness_plugins.activation_decoding.entropy import position_entropy

PROMPTS = ["Q: What is the capital of France?\nA:", "Q: Name a colour.\nA: Red\n\nQ: Name a planet?\nA:"]


def reference_generate(ad, prompt, n_new, alpha=0.0, info_layer=None, dola=None, recompute=False, relative_top=0.1, final_norm=False):
    """Greedy loop without cache or batching: a full forward per step, E and JSD written out."""
    ids = ad.tok_encode(prompt)
    n_prompt = len(ids)
    W = ad.model.get_output_embeddings().weight.double()
    sites = sorted(set(dola or []) | ({info_layer} if info_layer is not None else set()))
    out_tokens = []
    for _ in range(n_new):
        x = torch.tensor([ids])
        out = ad.forward_ids(x, torch.ones_like(x), [len(ids)], sites=sites)
        logp = F.log_softmax(out.logits[0, -1].double(), -1)
        score = logp.clone()
        if dola:
            prem = [F.log_softmax(ad.unembed(out.states[c][0, -1], final_norm=True).double(), -1) for c in dola]
            jsd = [jensenshannon(logp.exp().numpy(), p.exp().numpy()) ** 2 for p in prem]
            score = logp - prem[max(range(len(dola)), key=lambda i: jsd[i])]
        if info_layer is not None:
            ctx = len(ids) if recompute else n_prompt
            h = out.states[info_layer][0, :ctx]
            if final_norm:
                h = ad.model.base_model.norm(h)
            score = score - alpha * position_entropy(h.double() @ W.T)
        score[~relative_top_mask(logp, relative_top)] = float("-inf")
        nxt = int(score.argmax())
        out_tokens.append(nxt)
        ids = ids + [nxt]
    return out_tokens


def generate_tokens(ad, decoding, n_new):
    reqs = [GenerationRequest(p, max_new_tokens=n_new, decoding=decoding) for p in PROMPTS]
    texts = [r.text for r in ad.generate(reqs)]
    return texts


def as_text(ad, tokens):
    return ad.tokenizer.decode(tokens, skip_special_tokens=True)


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_alpha_zero_is_greedy(adapters, arch):
    ad = adapters[arch]
    assert generate_tokens(ad, "activation,alpha=0,info_layer=2", 6) == generate_tokens(ad, None, 6)


@pytest.mark.parametrize("spec, kwargs", [
    ("activation,alpha=2.0,info_layer=2", dict(alpha=2.0, info_layer=2)),
    ("activation,alpha=5.0,info_layer=1,recompute=true,final_norm=true", dict(alpha=5.0, info_layer=1, recompute=True, final_norm=True)),
    ("dola,layers=0+1+2", dict(dola=[0, 1, 2])),
    ("activation_dola,alpha=1.5,info_layer=3,layers=0+2", dict(alpha=1.5, info_layer=3, dola=[0, 2])),
])
def test_rules_match_reference_loop(adapters, spec, kwargs):
    ad = adapters["llama"]
    got = generate_tokens(ad, spec, 5)  # batched, left-padded, KV-cached
    want = [as_text(ad, reference_generate(ad, p, 5, **kwargs)) for p in PROMPTS]
    assert got == want
    if "alpha" in kwargs:  # the entropy term changes the output on this model, so the check has teeth
        assert got != generate_tokens(ad, None, 5)
    if kwargs.get("recompute"):  # and growing the context is not a no-op either
        assert want != [as_text(ad, reference_generate(ad, p, 5, **{**kwargs, "recompute": False})) for p in PROMPTS]


def test_first_step_scores_by_hand(adapters):
    ad = adapters["neox"]
    rule = decoders.activation(ad, alpha=0.8, info_layer=1, relative_top=0.2)
    prompt = ad.forward(PROMPTS, sites=rule.sites)
    rule.start(ad, prompt)
    last = prompt.at([-1, -1])
    states = {1: torch.stack([prompt.states[1][i, n - 1 : n] for i, n in enumerate(prompt.lengths)])}
    scores = rule.scores(last, states, 0)
    W = ad.model.get_output_embeddings().weight
    for i, n in enumerate(prompt.lengths):
        logp = F.log_softmax(last[i].float(), -1)
        want = logp - 0.8 * position_entropy(prompt.states[1][i, :n] @ W.T)
        keep = relative_top_mask(logp, 0.2)
        assert torch.equal(torch.isfinite(scores[i]), keep)
        assert torch.allclose(scores[i][keep], want[keep], atol=1e-4)


def test_repetition_penalty_applies_to_chosen_tokens(adapters):
    ad = adapters["llama"]
    rule = decoders.activation(ad, alpha=0.0, info_layer=1, relative_top=1e-9, repetition_penalty=3.0)
    prompt = ad.forward(PROMPTS[:1], sites=rule.sites)
    rule.start(ad, prompt)
    logits = prompt.at([-1])
    first = rule.scores(logits, {1: prompt.states[1][:, -1:]}, 0)
    top = int(first.argmax())
    again = rule.scores(logits, {1: prompt.states[1][:, -1:]}, 1)
    assert again[0, top] == pytest.approx(float(first[0, top]) * 3.0)  # log-probs are negative: multiplied
    others = torch.ones_like(first[0], dtype=torch.bool)
    others[top] = False
    assert torch.equal(again[0, others], first[0, others])


def test_parameter_errors(adapters):
    ad = adapters["llama"]
    with pytest.raises(ValueError, match=r"missing parameter\(s\) \['info_layer'\]"):
        decoders.activation(ad, alpha=1.0)
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['beta'\]"):
        decoders.activation(ad, alpha=1.0, info_layer=1, beta=2)
    with pytest.raises(ValueError, match="outside 0..3"):
        decoders.activation(ad, alpha=1.0, info_layer=7)
    with pytest.raises(ValueError, match="dola layers"):
        decoders.dola(ad, layers="middle")
    assert decoders.dola(ad).sites == (2,)  # tied embeddings: "low" skips site 0


def test_lm_eval_bridge_decodes_with_our_rule():
    pytest.importorskip("lm_eval")
    from lm_eval.api.instance import Instance

    from harness.lmeval.model import HarnessLM
    from tests.activation_decoding.conftest import make_adapter

    spec = "activation,alpha=2.0,info_layer=2"
    ad = make_adapter("llama", decoding=spec)
    lm = HarnessLM(adapter=ad)
    reqs = [Instance(request_type="generate_until", doc={}, arguments=(p, {"until": ["\n\n"], "max_gen_toks": 5}), idx=i) for i, p in enumerate(PROMPTS)]
    via_lm_eval = lm.generate_until(reqs)
    direct = [r.text for r in ad.generate([GenerationRequest(p, max_new_tokens=5, stop=("\n\n",), decoding=spec) for p in PROMPTS])]
    assert via_lm_eval == direct
    assert via_lm_eval == [as_text(ad, reference_generate(ad, p, 5, alpha=2.0, info_layer=2)).split("\n\n")[0] for p in PROMPTS]
