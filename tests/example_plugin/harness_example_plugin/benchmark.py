"""Arithmetic multiple choice: "12 + 7 =" with candidates " 19", " 20", " 18"."""

from __future__ import annotations

import random

from harness.benchmark import Benchmark, Sample, SampleResult, mean_metrics
from harness.models.base import LoglikelihoodRequest


class ArithmeticMC(Benchmark):
    samples_per_call = 4

    def __init__(self, n: int = 50, max_operand: int = 50, fewshot: int = 2):
        if n < 1:
            raise ValueError(f"n must be positive, got {n}")
        self.n, self.max_operand, self.fewshot = n, max_operand, fewshot

    def samples(self, model, ctx):
        rng = ctx.rng("arith")
        shots = "".join(f"{a} + {b} = {a + b}\n" for a, b in ((2, 3), (10, 4), (7, 7))[: self.fewshot])
        out = []
        for i in range(self.n):
            a, b = rng.randint(0, self.max_operand), rng.randint(0, self.max_operand)
            choices = [a + b, a + b + 1, a + b - 1]
            random.Random(i).shuffle(choices)
            doc = {"a": a, "b": b, "choices": choices, "answer": choices.index(a + b)}
            out.append(Sample(id=f"q{i}", doc=doc, prompt=f"{shots}{a} + {b} ="))
        return out

    def evaluate(self, model, samples, ctx):
        requests = [LoglikelihoodRequest(s.prompt, f" {c}") for s in samples for c in s.doc["choices"]]
        scores = [r.logprob for r in model.loglikelihood(requests)]
        results = []
        for i, s in enumerate(samples):
            mine = scores[3 * i : 3 * i + 3]
            pred = max(range(3), key=mine.__getitem__)
            results.append(SampleResult(s.id, {"acc": int(pred == s.doc["answer"]), "logprobs": mine, "pred": pred}))
        return results

    def aggregate(self, results, ctx):
        return mean_metrics(results, ["acc"])
