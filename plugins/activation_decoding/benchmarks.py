"""The plugin's two benchmarks: TruthfulQA multiple choice and open-domain QA generation.

Both evaluate a list of method settings in one pass (``methods:`` or a ``sweep:`` grid) and can
choose each method's best setting on one half of the questions and report it on the other
(``selection: alternate``; see :mod:`harness_plugins.activation_decoding.selection`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from harness.benchmark import Benchmark, Sample, SampleResult, TaskContext, TaskResult
from harness.models.decoding_spec import DecodingSpec
from harness.whitebox.capabilities import Capability
from harness_tasks import data_dir
from harness_plugins.activation_decoding.detection import auroc_metrics, detection_report, entropy_key, entropy_settings, entropy_sums, truthfulqa_records
from harness_plugins.activation_decoding.openqa import CONTAINMENT, QA_SHOTS, clean_prediction, lenient_match, load_qa, qa_prompt
from harness_plugins.activation_decoding.selection import aggregate_settings
from harness_plugins.activation_decoding.settings import MethodSetting, expand_sweep, unique
from harness_plugins.activation_decoding.truthfulqa import MCQuestion, binary_metric, load_truthfulqa, mc_metrics, mc_prompt

DATA_DIR = data_dir("activation_decoding")
SELECTIONS = ("none", "alternate")


def resolve_data_path(source: str) -> str:
    """An existing path as is; else a file of the plugin's shipped data; else (a hub id) unchanged."""
    if Path(source).exists():
        return source
    shipped = DATA_DIR / source
    return str(shipped) if shipped.exists() else source


def _settings_from_args(methods: Sequence[str] | None, sweep: dict[str, Any] | None) -> list[str]:
    specs = list(methods or [])
    if sweep:
        specs += expand_sweep(sweep)
    if not specs:
        specs = ["greedy"]
    return unique(specs)


def _check_selection(selection: str) -> bool:
    if selection not in SELECTIONS:
        raise ValueError(f"selection must be one of {SELECTIONS}, got {selection!r}")
    return selection == "alternate"


class TruthfulQAMC(Benchmark):
    """TruthfulQA MC1/MC2/MC3 for every setting, from one batched forward per question; with an
    activation setting, also the AUROC of its entropy for true vs false answers (detection.py)."""
    requires = frozenset({Capability.SCORING, Capability.SITE_READ})

    samples_per_call = 16
    metrics: tuple[str, ...] = ("mc1", "mc2", "mc3")

    def __init__(self, path: str = "truthfulqa_sample.csv", methods: list[str] | None = None, sweep: dict[str, Any] | None = None,
                 instruction: bool = False, selection: str = "none", select_metric: str = "mc2", limit: int | None = None):
        self.path = resolve_data_path(str(path))
        self.specs = _settings_from_args(methods, sweep)
        self.settings = [MethodSetting.parse(s) for s in self.specs]  # fail fast on a bad spec
        self.labels = unique(s.label for s in self.settings)
        self.entropy_settings = entropy_settings(self.labels)
        self.instruction = bool(instruction)
        self.selection = _check_selection(selection)
        self.select_metric = select_metric
        self.limit = limit
        self._scorer: Any = None
        self._scorer_for: Any = None

    def samples(self, model: Any, ctx: TaskContext) -> list[Sample]:
        items = load_truthfulqa(self.path, self.limit)
        return [Sample(id=q.id, doc={**q.to_doc(), "fold": i % 2}, prompt=mc_prompt(q.question, self.instruction)) for i, q in enumerate(items)]

    def answers(self, item: MCQuestion) -> list[str]:
        return item.answers()

    def question_metrics(self, scores: dict[str, float], item: MCQuestion) -> dict[str, float]:
        return mc_metrics(scores, item)

    def _get_scorer(self, model: Any) -> Any:
        from harness_plugins.activation_decoding.mc_scorer import MCScorer

        adapter = model  # the runner checked SITE_READ (``requires``) before loading data
        if self._scorer_for is not adapter:
            self._scorer, self._scorer_for = MCScorer(adapter, self.settings), adapter
        return self._scorer

    def evaluate(self, model: Any, samples: Sequence[Sample], ctx: TaskContext) -> list[SampleResult]:
        scorer = self._get_scorer(model)
        results = []
        for sample in samples:
            item = MCQuestion.from_doc(sample.doc)
            answers = self.answers(item)
            scored = scorer.score(sample.prompt, answers)
            values: dict[str, Any] = {"fold": sample.doc["fold"]}
            for label in self.labels:
                per_answer = {a: s.scores[label] for a, s in zip(answers, scored)}
                for metric, value in self.question_metrics(per_answer, item).items():
                    values[f"{label}/{metric}"] = value
            log = {"answers": {a: {"logprob": s.logprob, "n_tokens": s.n_tokens, "scores": s.scores, **s.extras} for a, s in zip(answers, scored)}}
            for a, rec in log["answers"].items():  # the hallucination-detection signal (see detection.py)
                rec["true"] = a in item.correct
                rec["entropy"] = entropy_sums(rec, self.entropy_settings)
            results.append(SampleResult(sample.id, values, log))
        return results

    def aggregate(self, results: Sequence[SampleResult], ctx: TaskContext) -> TaskResult:
        res = aggregate_settings([r.values for r in results], self.labels, self.metrics, self.select_metric, self.selection, seed=ctx.seed)
        if self.entropy_settings:
            rows = [{"doc": {"id": r.sample_id, "correct": [a for a, x in r.log["answers"].items() if x["true"]],
                             "incorrect": [a for a, x in r.log["answers"].items() if not x["true"]]}, "log": r.log} for r in results]
            report = detection_report(truthfulqa_records(rows, self.entropy_settings), sorted(self.entropy_settings), seed=ctx.seed)
            res.details["detection"] = report
            res.metrics.update(auroc_metrics(report))
        return res


class TruthfulQABinary(TruthfulQAMC):
    """TruthfulQA's binary format (2025): the best answer against the best incorrect one (the
    file's column, or the first incorrect answer; the rule is recorded in ``details``)."""

    metrics = ("binary",)

    def __init__(self, path: str = "truthfulqa_sample.csv", select_metric: str = "binary", **kwargs: Any):
        super().__init__(path=path, select_metric=select_metric, **kwargs)

    def answers(self, item: MCQuestion) -> list[str]:
        return [item.best, item.best_incorrect]

    def question_metrics(self, scores: dict[str, float], item: MCQuestion) -> dict[str, float]:
        return binary_metric(scores, item)

    def evaluate(self, model: Any, samples: Sequence[Sample], ctx: TaskContext) -> list[SampleResult]:
        results = super().evaluate(model, samples, ctx)
        for r, s in zip(results, samples):
            r.log["binary_rule"] = s.doc.get("binary_rule", "")
        return results

    def aggregate(self, results: Sequence[SampleResult], ctx: TaskContext) -> TaskResult:
        res = super().aggregate(results, ctx)
        rules = sorted({r.log.get("binary_rule", "") for r in results})
        res.details["binary_rule"] = rules[0] if len(rules) == 1 else rules
        return res


class OpenQAGeneration(Benchmark):
    """2-shot "Q: ..\\nA:" generation, stopped at "Q:", scored by lenient exact match per decoding."""
    requires = frozenset({Capability.GENERATION, Capability.SITE_READ})

    samples_per_call = 64

    def __init__(self, path: str = "openqa_sample.jsonl", format: str | None = None, split: str | None = None,
                 decodings: list[str] | None = None, sweep: dict[str, Any] | None = None, max_new_tokens: int = 32,
                 stop: list[str] | None = None, shots: list[list[str]] | None = None, selection: str = "none",
                 containment: str = "substring", detect: str | None = None, limit: int | None = None):
        self.path = resolve_data_path(str(path))
        self.format, self.split, self.limit = format, split, limit
        # ``detect: "info_layer=-1,final_norm=true"``: the entropy signal of every prediction (detection.py)
        self.detect = MethodSetting.parse(f"activation,alpha=1,{detect}") if detect else None
        self.specs = _settings_from_args(decodings, sweep)
        self.decodings = {spec: DecodingSpec.parse(spec, "decodings") for spec in self.specs}  # parsed once, typed by the decoder
        self.labels = self.specs
        self.max_new_tokens = int(max_new_tokens)
        self.stop = tuple(stop or ["Q:"])
        if shots is not None and not all(isinstance(s, (list, tuple)) and len(s) == 2 for s in shots):
            raise ValueError("shots must be a list of [question, answer] pairs")
        self.shots = [tuple(s) for s in shots] if shots is not None else list(QA_SHOTS)
        self.selection = _check_selection(selection)
        if containment not in CONTAINMENT:
            raise ValueError(f"containment must be one of {CONTAINMENT}, got {containment!r}")
        self.containment = containment

    def samples(self, model: Any, ctx: TaskContext) -> list[Sample]:
        items = load_qa(self.path, self.format, self.limit, self.split)
        return [Sample(id=f"{i:05d}-{it.id}", doc={"question": it.question, "answers": it.answers, "fold": i % 2},
                       prompt=qa_prompt(it.question, self.shots)) for i, it in enumerate(items)]

    def evaluate(self, model: Any, samples: Sequence[Sample], ctx: TaskContext) -> list[SampleResult]:
        from harness.models.base import GenerationRequest

        values: list[dict[str, Any]] = [{"fold": s.doc["fold"]} for s in samples]
        logs: list[dict[str, Any]] = [{} for _ in samples]
        for spec in self.specs:
            decoding = None if self.decodings[spec].plain else self.decodings[spec]
            reqs = [GenerationRequest(prompt=s.prompt, max_new_tokens=self.max_new_tokens, stop=self.stop, decoding=decoding) for s in samples]
            for i, (s, out) in enumerate(zip(samples, model.generate(reqs))):
                pred = clean_prediction(out.text, self.stop)
                values[i][f"{spec}/em"] = lenient_match(pred, s.doc["answers"], self.containment)
                logs[i][spec] = pred
        results = [SampleResult(s.id, v, {"predictions": lg}) for s, v, lg in zip(samples, values, logs)]
        if self.detect is not None:
            self._log_signals(model, samples, results)
        return results

    def _log_signals(self, model: Any, samples: Sequence[Sample], results: list[SampleResult]) -> None:
        """Score each non-empty prediction after its prompt; log sum E, log p and its token count."""
        from harness_plugins.activation_decoding.mc_scorer import MCScorer

        scorer = MCScorer(model, [self.detect])
        for s, r in zip(samples, results):
            r.log["signals"] = {}
            for spec, pred in r.log["predictions"].items():
                if not pred:
                    continue  # an empty answer has no tokens to read; it is left out of the AUROC
                (a,) = scorer.score(s.prompt, [pred])
                r.log["signals"][spec] = {"true": r.values[f"{spec}/em"] == 1.0, "logprob": a.logprob, "n_tokens": a.n_tokens,
                                          "entropy": {entropy_key(self.detect): a.logprob - a.scores[self.detect.label]}}

    def aggregate(self, results: Sequence[SampleResult], ctx: TaskContext) -> TaskResult:
        res = aggregate_settings([r.values for r in results], self.labels, ("em",), "em", self.selection, seed=ctx.seed)
        if self.detect is not None:
            key = entropy_key(self.detect)
            res.details["detection"] = {}
            for spec in self.specs:
                recs = [{"question": r.sample_id, **r.log["signals"][spec]} for r in results if spec in r.log.get("signals", {})]
                report = detection_report(recs, [key], seed=ctx.seed)
                res.details["detection"][spec] = report
                res.metrics.update({f"{spec}/{k}": v for k, v in auroc_metrics(report).items()})
        return res
