"""Our log-likelihoods equal lm-eval's HFLM on the same requests and model."""

import pytest

from harness.models.base import LoglikelihoodRequest as L
from harness.testing import tiny_adapter

lm_eval = pytest.importorskip("lm_eval")
#: A few-shot primer shared by several questions: it runs once per call, from the prefix store.
PRIMER = "Q: What is two plus two?\nA: Four.\n\nQ: Which ocean is the largest?\nA: The Pacific.\n\n"


@pytest.mark.parametrize("arch", ["llama", "gpt2", "neox"])
def test_loglikelihood_equals_lm_eval_hflm(arch):
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    adapter = tiny_adapter(arch, batch_size=4)
    requests = [
        L("Q: Which is the largest planet?\nA:", " Jupiter"),
        L("Q: Which is the largest planet?\nA:", " Saturn, the one with rings"),
        L("Q: Which is the largest planet?\nA:", " Earth"),
        L("Translate to French: cat =>", " chat"),
        L("Context ending with a space ", "word"),
        L("", "No context at all"),
    ] + [L(f"{PRIMER}Q: {q}\nA:", a) for q in ("Who wrote Hamlet?", "Where is Rome?") for a in (" Shakespeare", " In Italy", " Nobody")]
    lm = HFLM(pretrained=adapter.model, tokenizer=adapter.tokenizer, batch_size=2, device="cpu")
    theirs = lm.loglikelihood([Instance("loglikelihood", {}, (r.context, r.continuation), i) for i, r in enumerate(requests)], disable_tqdm=True)
    ours = adapter.loglikelihood(requests)
    assert adapter.prefix_store.reused_tokens > 0
    for (lp, greedy), mine in zip(theirs, ours):
        assert mine.logprob == pytest.approx(lp, abs=1e-4)
        assert mine.is_greedy == greedy
