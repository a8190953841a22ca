"""The MeLLo loop: retrieval and appending with a scripted model; robustness and batching on a tiny real model."""

from __future__ import annotations

from typing import Sequence

import pytest

from harness.models.base import GenerationRequest, GenerationResult, ModelAdapter
from harness_plugins.mquake.mello import MELLO_STOPS, MelloItem, run_mello

DEMOS = "Question: What is the capital of Spain?\nSubquestion: What is the capital of Spain?\nGenerated answer: Madrid\nRetrieved fact: x.\nRetrieved fact does not contradict to generated answer, so the intermediate answer is: Madrid\nFinal answer: Madrid"


class ScriptedModel(ModelAdapter):
    """Answers from a script keyed by how many facts a transcript already holds (a stand-in LM for control flow)."""

    def __init__(self, script: dict[str, list[str]]):
        self.script, self.calls = script, []

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        self.calls.append(len(requests))
        out = []
        for r in requests:
            assert r.stop == MELLO_STOPS
            transcript = r.prompt.rsplit("Question: ", 1)[1]
            question = transcript.split("\n", 1)[0]
            text = self.script[question][transcript.count("Retrieved fact: ")]
            out.append(GenerationResult(text=text, finish_reason="stop", n_tokens=len(text.split())))
        return out

    def loglikelihood(self, requests):  # pragma: no cover - unused
        raise NotImplementedError

    def fingerprint(self) -> str:
        return "scripted"


SCRIPT = {
    "Continent of the country of Bill Gates?": [
        "Subquestion: What is the country of citizenship of Bill Gates?\nGenerated answer: United States.\n",
        "Retrieved fact contradicts to generated answer, so the intermediate answer is: Brazil\nSubquestion: Which continent is Brazil located in?\nGenerated answer: South America.\n",
        "Retrieved fact does not contradict to generated answer, so the intermediate answer is: South America\nFinal answer: South America",
    ],
    "Broken?": ["I do not know."],
    "Endless?": ["Subquestion: Who founded Microsoft?\nGenerated answer: Bill Gates\n"] + [
        "Retrieved fact does not contradict to generated answer, so the intermediate answer is: Bill Gates\nSubquestion: Who founded Microsoft?\nGenerated answer: Bill Gates\n"] * 9,
}
MEMORY = ["Bill Gates is a citizen of Brazil", "Microsoft was founded by Steve Jobs", "The capital of France is Rome"]


def test_loop_retrieves_appends_and_finishes(retriever):
    model = ScriptedModel(SCRIPT)
    mem = retriever.index(MEMORY)
    items = [MelloItem(q, mem) for q in ("Continent of the country of Bill Gates?", "Broken?", "Endless?")]
    good, broken, endless = run_mello(model, retriever, items, DEMOS, max_iterations=2)
    assert good.final_answer == "South America" and not good.failure
    assert good.intermediates == ["Brazil", "South America"]
    assert [r["fact"] for r in good.retrievals] == [MEMORY[0], MEMORY[0]]
    assert good.retrievals[0]["verdict"] == "contradicts"
    assert len(good.log["iterations"]) == 3
    assert "Retrieved fact: Bill Gates is a citizen of Brazil.\nRetrieved fact contradicts" in good.log["transcript"]
    assert good.log["transcript"].endswith("Final answer: South America")
    assert (broken.failure, broken.error, broken.final_answer) == ("parse", "no 'Subquestion:' or 'Final answer:' line", None)
    assert endless.failure == "max_iterations" and len(endless.retrievals) == 2 and len(endless.log["iterations"]) == 3
    assert endless.retrievals[0]["fact"] == MEMORY[1]
    assert model.calls == [3, 2, 2]  # one batched call per iteration over the still-active questions


@pytest.mark.slow
def test_tiny_model_never_crashes_and_batching_is_exact(retriever):
    from harness.testing import tiny_adapter

    model = tiny_adapter("llama")
    mem = retriever.index(MEMORY)
    items = [MelloItem(q, mem) for q in ("Who founded Microsoft?", "Where is Rome?", "Capital of France?")]
    together = run_mello(model, retriever, items, DEMOS, max_iterations=2, max_new_tokens=8)
    alone = [run_mello(model, retriever, [it], DEMOS, max_iterations=2, max_new_tokens=8)[0] for it in items]
    assert [o.log for o in together] == [o.log for o in alone]
    assert all(o.final_answer is None and o.failure in ("parse", "max_iterations") for o in together)  # random weights: malformed, logged
    plain = tiny_adapter("llama", share_prefix=False)  # no prefix reuse at all: the oracle
    cached = run_mello(plain, retriever, items, DEMOS, max_iterations=2, max_new_tokens=8)
    assert [o.log for o in cached] == [o.log for o in together]
    assert model.prefix_store.misses > 0  # the batch ran its shared demonstrations once, through the store
