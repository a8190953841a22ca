"""MeLLo (Zhong et al. 2023): answer multi-hop questions against an external memory of edits.

For each question the model writes, one generation at a time (stopped before
"Retrieved fact:"), a subquestion and its own tentative answer; the subquestion retrieves the
top-1 edit sentence from the group's memory, which is appended as "Retrieved fact: <fact>."
and the model judges whether it contradicts its answer, then goes on. A generation with a
"Final answer:" line ends the question.

``max_iterations`` (default 4) bounds the number of retrieval rounds; the model gets one
more generation after the last retrieval to state its final answer, so a fully decomposed
4-hop question fits in the default. A malformed generation, or a subquestion after the last
round, ends that question as unanswered with the reason logged.

All still-active questions generate in one batched call per iteration; subquestions of one
iteration are embedded in one batch; memory embeddings come precomputed per edit group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

from harness_plugins.mquake.parser import RETRIEVED, parse_mello_step
from harness_plugins.mquake.prompts import mello_prompt
from harness_plugins.mquake.qa import QuestionOutcome

if TYPE_CHECKING:  # pragma: no cover
    from harness.models.base import ModelAdapter
    from harness_plugins.mquake.retriever import DenseRetriever, MemoryIndex

#: "Retrieved fact:" is the paper's stop; a blank line or a new "Question:" also ends a step
#: (the model would otherwise write a whole new demonstration).
MELLO_STOPS = (RETRIEVED, "\n\n", "\nQuestion:")


@dataclass(frozen=True)
class MelloItem:
    question: str
    memory: MemoryIndex


@dataclass
class _State:
    item: MelloItem
    prompt: str
    start: int  # where this question's transcript begins in ``prompt``
    iterations: list[dict[str, Any]] = field(default_factory=list)
    retrievals: list[dict[str, Any]] = field(default_factory=list)
    final: str | None = None
    failure: str = ""
    error: str = ""
    done: bool = False


def run_mello(model: ModelAdapter, retriever: DenseRetriever, items: Sequence[MelloItem], demos: str, max_iterations: int = 4, max_new_tokens: int = 96) -> list[QuestionOutcome]:
    """Run MeLLo on every item, batching each iteration across the still-active items."""
    from harness.models.base import GenerationRequest

    if max_iterations < 0:
        raise ValueError(f"max_iterations must be >= 0, got {max_iterations}")
    states = []
    for item in items:
        prompt = mello_prompt(demos, item.question)
        states.append(_State(item=item, prompt=prompt, start=len(prompt) - len(f"Question: {item.question}\n")))
    for iteration in range(max_iterations + 1):
        active = [s for s in states if not s.done]
        if not active:
            break
        results = model.generate([GenerationRequest(prompt=s.prompt, max_new_tokens=max_new_tokens, stop=MELLO_STOPS) for s in active])
        to_retrieve: list[tuple[_State, str, str]] = []
        for state, res in zip(active, results):
            step = parse_mello_step(res.text)
            state.iterations.append({"iteration": iteration, "generation": res.text, "finish_reason": res.finish_reason, "n_tokens": res.n_tokens, "parsed": step.to_log()})
            if state.retrievals and step.verdict is not None:
                # This step's verdict line judges the fact retrieved in the previous round.
                state.retrievals[-1].update(verdict=step.verdict, intermediate_answer=step.intermediate_answer)
            if step.kind == "final":
                state.final, state.done = step.final_answer, True
            elif step.kind == "malformed":
                state.failure, state.error, state.done = "parse", step.error, True
            elif iteration == max_iterations:
                state.failure, state.done = "max_iterations", True
                state.error = f"still asking subquestions after {max_iterations} retrieval rounds"
            else:
                to_retrieve.append((state, step.subquestion or "", res.text))
        if to_retrieve:
            hits = retriever.retrieve([q for _, q, _ in to_retrieve], k=1, memory=[s.item.memory for s, _, _ in to_retrieve])
            for (state, subquestion, text), (hit,) in zip(to_retrieve, hits):
                state.retrievals.append({"subquestion": subquestion, "fact": hit.text, "memory_index": hit.index, "score": round(hit.score, 4)})
                state.iterations[-1]["retrieved_fact"] = hit.text
                state.prompt += text.rstrip() + f"\n{RETRIEVED} {hit.text}.\n"
    outcomes = []
    for s in states:
        # Retrieval rounds were appended to the prompt; the last generation ended the question.
        transcript = s.prompt[s.start :] + (s.iterations[-1]["generation"] if s.iterations else "")
        outcomes.append(
            QuestionOutcome(
                question=s.item.question,
                final_answer=s.final,
                intermediates=[r.get("intermediate_answer") for r in s.retrievals],
                failure=s.failure,
                error=s.error,
                retrievals=s.retrievals,
                log={"iterations": s.iterations, "transcript": transcript},
            )
        )
    return outcomes
