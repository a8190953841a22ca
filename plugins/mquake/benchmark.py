"""The MQuAKE benchmark: knowledge edits in groups of k, multi-hop questions, four methods.

Methods (``method:``):

* ``noedit``: few-shot multi-hop prompting (``prompting: plain | cot``) on the unedited
  model, judged against the *original* answers (``answer`` + aliases + ``answer_extended``);
* ``incontext``: the group's edit sentences in the prompt ("New facts: ..."), judged against
  the new answers;
* ``mello``: MeLLo with the group's edits as an external memory (:mod:`harness_plugins.mquake.mello`);
* ``weight_edit``: a ROME/MEMIT-style ``editor`` ("module:Factory") applied to the weights for
  the whole group through ``ModelAdapter.weight_edits``, then few-shot prompting.

Cases are split, in file order, into groups of ``k`` (1, 100, 1000 or "all"); a group's edits
are applied or stored at once and its cases evaluated. One sample = one case; its log holds
every question asked and, for MeLLo, every iteration's generation.
Questions (paraphrases) are asked in rounds; with ``early_exit`` a case stops once it is
solved (hop-wise correct, or multi-hop correct where no hops are stated), which changes no
metric since a case counts as correct if any question is.

With a ``remastered_*`` variant, ``remastered_edits: N`` and ``remastered_unedited: true`` the
cases unedited at N are evaluated too (:mod:`harness_plugins.mquake.remastered`): each is asked
with its group's edits and judged against its original answers, reported as ``unedited/*``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from harness.benchmark import Benchmark, Sample, SampleResult, TaskContext, TaskResult
from harness.whitebox.capabilities import Capability
from harness.registry import resolve
from harness_plugins.mquake import remastered, scoring
from harness_plugins.mquake.editing import check_restored
from harness_plugins.mquake.data import Case, group_cases, group_edits, load_cases, parse_k
from harness_plugins.mquake.metrics import answer_matches, completion_matches, hop_answers
from harness_plugins.mquake.prompts import load_demos
from harness_plugins.mquake.qa import QAItem, QuestionOutcome, answer_questions, complete_clozes
from harness_plugins.mquake.variants import VARIANTS, load_remastered, load_variant

if TYPE_CHECKING:  # pragma: no cover
    from harness.models.base import ModelAdapter

METHODS = ("noedit", "incontext", "mello", "weight_edit")
DEFAULT_MAX_NEW_TOKENS = {"plain": 16, "cot": 96, "mello": 64}


class MQuAKEBenchmark(Benchmark):
    requires = frozenset({Capability.GENERATION})
    samples_per_call = 16

    def __init__(
        self,
        data: str | None = None,
        variant: str | None = None,
        remastered_edits: int | None = None,
        remastered_unedited: bool = False,
        remastered_mask_edited: bool = True,
        method: str = "mello",
        prompting: str = "plain",
        k: int | str = "all",
        demos: str | None = None,
        retriever: str = "all-minilm-l6-v2",
        max_iterations: int = 4,
        max_new_tokens: int | None = None,
        n_questions: int = 3,
        early_exit: bool = True,
        edit_wise: bool = False,
        instance_wise: bool = False,
        editor: str | None = None,
        editor_args: dict[str, Any] | None = None,
        prefix_cache: bool = True,
        limit: int | None = None,
    ):
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        if prompting not in ("plain", "cot"):
            raise ValueError(f"prompting must be 'plain' or 'cot', got {prompting!r}")
        if method == "weight_edit" and not editor:
            raise ValueError("method 'weight_edit' needs editor: 'module:Factory' (a WeightEditor factory)")
        if n_questions < 1:
            raise ValueError(f"n_questions must be >= 1, got {n_questions}")
        self.k = k
        parse_k(k)  # validate early
        if variant is not None and variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        if remastered_edits is not None and not str(variant).startswith("remastered_"):
            raise ValueError("remastered_edits applies to the remastered_* variants only")
        if remastered_unedited and not str(variant).startswith("remastered_"):
            raise ValueError(f"remastered_unedited applies to the remastered_* variants only, not variant={variant!r}")
        if remastered_unedited and remastered_edits is None:
            raise ValueError("remastered_unedited needs remastered_edits: N (the edit count whose labels say which cases are unedited)")
        self.variant, self.remastered_edits, self.remastered_unedited = variant, remastered_edits, bool(remastered_unedited)
        # The official Remastered code also drops, for an edited case, other cases' edits that contradict its new chain.
        self.remastered_mask_edited = bool(remastered_mask_edited) and str(variant).startswith("remastered_")
        data = data if data is not None or variant is not None else "mquake_mini.json"
        self.data, self.method, self.prompting = data, method, prompting
        self.style = "mello" if method == "mello" else prompting
        self.demos_path, self.retriever_name = demos, retriever
        self.max_iterations, self.n_questions, self.early_exit = int(max_iterations), int(n_questions), bool(early_exit)
        self.max_new_tokens = int(max_new_tokens or DEFAULT_MAX_NEW_TOKENS[self.style])
        self.edit_wise, self.instance_wise = bool(edit_wise), bool(instance_wise)
        self.editor_ref, self.editor_args = editor, dict(editor_args or {})
        if not prefix_cache:
            raise ValueError("prefix_cache: false is no longer a task argument; turn prefix reuse off for the model "
                             "with --model-args share_prefix=false")
        self.limit = limit
        self.edited = method != "noedit"
        if method == "weight_edit":
            self.requires = type(self).requires | {Capability.WEIGHT_EDITS}
        self._cases: dict[str, Case] = {}
        self._groups: list[list[Case]] = []
        self._group_of: dict[str, int] = {}
        self._unedited_groups: list[list[Case]] = []  # group -> its unedited cases (remastered_unedited)
        self._contaminating: dict[str, tuple] = {}  # unedited case -> its group's edits that rewrite its chain
        self._conflicting: dict[str, tuple] = {}  # edited case (remastered) -> its group's edits that contradict its new chain
        self._case_memories: dict[str, Any] = {}  # case with masked edits -> its MeLLo memory
        self._memories: dict[int, Any] = {}  # group -> MemoryIndex (MeLLo)
        self._group_edits: dict[int, tuple] = {}  # group -> its distinct edits (in-context)
        self._retriever = None
        self._demos: str | None = None
        self._editor: Any = None
        self._edit_log: dict[int, dict[str, Any]] = {}  # group -> edit count, seconds, restored

    # -- samples ------------------------------------------------------------------------------
    def samples(self, model: ModelAdapter | None, ctx: TaskContext) -> Sequence[Sample]:
        unedited: list[Case] = []
        if self.remastered_unedited:
            cases, unedited = load_remastered(str(self.variant), self.data, int(self.remastered_edits or 0))
        else:
            cases = load_variant(self.variant, self.data, self.remastered_edits) if self.variant else load_cases(self.data)
        limits = [n for n in (self.limit, ctx.limit) if n is not None]
        if limits:  # before grouping: k="all" means all evaluated cases; unedited ones are cut alike
            cases, unedited = cases[: min(limits)], unedited[: min(limits)]
        self._groups = group_cases(cases, self.k)
        self._unedited_groups = remastered.assign_unedited(self._groups, unedited) if unedited else []
        self._cases = {c.case_id: c for c in [*cases, *unedited]}
        self._group_of = {c.case_id: g for gs in (self._groups, self._unedited_groups) for g, group in enumerate(gs) for c in group}
        edits_of = [group_edits(group) for group in self._groups]  # once per group, not once per case
        self._contaminating = {c.case_id: tuple(remastered.contaminating(c, edits_of[g]))
                               for g, group in enumerate(self._unedited_groups) for c in group}
        if self.remastered_mask_edited and self._masks():
            found = {c.case_id: tuple(remastered.contaminating(c, edits_of[g], chain="new")) for g, group in enumerate(self._groups) for c in group}
            self._conflicting = {cid: edits for cid, edits in found.items() if edits}
        order = cases + unedited
        if self.method == "weight_edit" and self._groups:  # whole groups per call: each group is edited once
            members = [g + (self._unedited_groups[i] if self._unedited_groups else []) for i, g in enumerate(self._groups)]
            size = max(len(g) for g in members)
            self.samples_per_call = size * max(1, type(self).samples_per_call // size)
            order = [c for group in members for c in group]
        demos = self._load_demos()
        out = []
        for case in order:
            g = self._group_of[case.case_id]
            doc = {"case_id": case.case_id, "group": g, "group_size": len(self._groups[g]), "n_hops": case.n_hops,
                   "questions": list(case.questions[: self.n_questions]), "answer": case.answer, "new_answer": case.new_answer,
                   "edits": [e.sentence for e in case.edits]}
            if self.remastered_unedited:
                doc["kind"] = "unedited" if self._unedited(case) else "edited"
            if case.case_id in self._conflicting:
                doc["masked_edits"] = [e.sentence for e in self._conflicting[case.case_id]]
            out.append(Sample(id=case.case_id, doc=doc, prompt=f"{demos}\n\n{case.questions[0]}"))
        return out

    def _unedited(self, case: Case) -> bool:
        return case.case_id in self._contaminating

    def _masked(self, case: Case) -> tuple:
        """The group edits left out of this case's prompt or memory: an unedited case's
        contaminating edits, or an edited case's conflicting ones (remastered)."""
        return self._contaminating.get(case.case_id) or self._conflicting.get(case.case_id, ())

    def _judged_new(self, case: Case) -> bool:
        """Judged against the new answers: an editing method's edited cases (not unedited ones)."""
        return self.edited and not self._unedited(case)

    def _by_kind(self, cases: Sequence[Case]) -> list[list[Case]]:
        """Edited and unedited cases apart, so that the edited ones generate in the same calls as without the option."""
        parts = [[c for c in cases if not self._unedited(c)], [c for c in cases if self._unedited(c)]]
        return [p for p in parts if p]

    def _masks(self) -> bool:
        """In-context and MeLLo drop an unedited case's contaminating edits (the official rule); weights cannot."""
        return self.method in ("incontext", "mello")

    def _load_demos(self) -> str:
        if self._demos is None:
            self._demos = load_demos(self.style, self.demos_path)
        return self._demos

    # -- evaluation ---------------------------------------------------------------------------
    def evaluate(self, model: ModelAdapter | None, samples: Sequence[Sample], ctx: TaskContext) -> list[SampleResult]:
        if model is None:
            raise ValueError("MQuAKE needs a model")
        if not self._cases:
            self.samples(model, ctx)
        cases = [self._cases[s.id] for s in samples]
        gen = self._generator(model)
        if self.method == "weight_edit":
            outcomes, probes = self._evaluate_weight_edited(model, cases, ctx)
        else:
            outcomes, probes = {}, {}
            for part in self._by_kind(cases):
                outcomes.update(self._ask_in_rounds(part, self._asker(gen, part)))
                if self.edit_wise or self.instance_wise:
                    probes.update(self._probe(gen, part, self._context_edits))
        return [self._result(case, outcomes[case.case_id], probes.get(case.case_id, {})) for case in cases]

    def _generator(self, model: ModelAdapter) -> Any:
        """The adapter itself: its generate reuses the KV cache of shared prompt prefixes
        (MeLLo's demonstrations) across calls through the core prefix store."""
        return model

    def _context_edits(self, case: Case) -> tuple:
        """Edits placed in the prompt: the whole group's for in-context editing, none otherwise."""
        if self.method != "incontext":
            return ()
        g = self._group_of[case.case_id]
        if g not in self._group_edits:
            self._group_edits[g] = tuple(group_edits(self._groups[g]))
        masked = self._masked(case)
        return tuple(e for e in self._group_edits[g] if e not in masked) if masked else self._group_edits[g]

    def _asker(self, gen: Any, cases: Sequence[Case]) -> Callable[[list[tuple[Case, str]]], list[QuestionOutcome]]:
        demos = self._load_demos()
        if self.method != "mello":
            return lambda items: answer_questions(gen, [QAItem(q, self._context_edits(c)) for c, q in items], demos, self.style, self.max_new_tokens)
        from harness_plugins.mquake.mello import MelloItem, run_mello

        retriever = self._get_retriever()
        for g in sorted({self._group_of[c.case_id] for c in cases}):
            if g not in self._memories:
                self._memories[g] = retriever.index([e.sentence for e in group_edits(self._groups[g])])
        return lambda items: run_mello(gen, retriever, [MelloItem(q, self._memory(c)) for c, q in items], demos, self.max_iterations, self.max_new_tokens)

    def _memory(self, case: Case) -> Any:
        """The group's memory; without the edits that contaminate (unedited) or contradict (edited) its chain."""
        memory = self._memories[self._group_of[case.case_id]]
        masked = self._masked(case)
        if not masked:
            return memory
        if case.case_id not in self._case_memories:
            from harness_plugins.mquake.retriever import MemoryIndex

            keep = [j for j, e in enumerate(group_edits(self._groups[self._group_of[case.case_id]])) if e not in masked]
            self._case_memories[case.case_id] = (MemoryIndex([memory.sentences[j] for j in keep], memory.embeddings[keep]) if keep
                                                 else self._get_retriever().index([remastered.NO_FACT]))
        return self._case_memories[case.case_id]

    def _get_retriever(self) -> Any:
        if self._retriever is None:
            from harness_plugins.mquake.retriever import DenseRetriever

            self._retriever = DenseRetriever(self.retriever_name)
        return self._retriever

    def _ask_in_rounds(self, cases: Sequence[Case], ask: Callable[[list[tuple[Case, str]]], list[QuestionOutcome]]) -> dict[str, list[QuestionOutcome]]:
        """Round r asks paraphrase r of every case not yet solved, all in one batched call."""
        outcomes: dict[str, list[QuestionOutcome]] = {c.case_id: [] for c in cases}
        solved: set[str] = set()
        for r in range(self.n_questions):
            pending = [c for c in cases if c.case_id not in solved and r < len(c.questions)]
            if not pending:
                break
            for case, out in zip(pending, ask([(c, c.questions[r]) for c in pending])):
                outcomes[case.case_id].append(out)
                if self.early_exit and scoring.question_solved(out, case, self._judged_new(case), self.style):
                    solved.add(case.case_id)
        return outcomes

    def _probe(self, gen: Any, cases: Sequence[Case], context: Callable[[Case], tuple]) -> dict[str, dict[str, Any]]:
        """Edit-wise (edit clozes -> target_new) and instance-wise (chain clozes) completions."""
        clozes, contexts, owners = [], [], []
        for case in cases:
            chain = case.new_single_hops if self._judged_new(case) else case.single_hops
            wanted = [(e.cloze, "edit") for e in case.edits] if self.edit_wise and not self._unedited(case) else []
            wanted += [(h.cloze, "hop") for h in chain] if self.instance_wise else []
            for cloze, kind in wanted:
                clozes.append(cloze)
                contexts.append(context(case))
                owners.append((case.case_id, kind))
        texts = complete_clozes(gen, clozes, contexts)
        probes: dict[str, dict[str, Any]] = {c.case_id: {"edit": [], "hop": []} for c in cases}
        for (cid, kind), text in zip(owners, texts):
            probes[cid][kind].append(text)
        return probes

    def _evaluate_weight_edited(self, model: ModelAdapter, cases: Sequence[Case], ctx: TaskContext) -> tuple[dict, dict]:
        """Each group: edit the weights with all of its edits, ask its cases, restore the weights
        and check that every MLP projection the editor may touch is bit-identical again."""
        import time

        editor = self._get_editor(ctx)
        outcomes: dict[str, list[QuestionOutcome]] = {}
        probes: dict[str, dict[str, Any]] = {}
        by_group: dict[int, list[Case]] = {}
        for case in cases:
            by_group.setdefault(self._group_of[case.case_id], []).append(case)
        for g, members in by_group.items():
            edits = group_edits(self._groups[g])
            watched = check_restored(model, editor, None)
            start = time.perf_counter()
            with model.weight_edits(editor, edits):
                edit_s = time.perf_counter() - start
                for part in self._by_kind(members):
                    outcomes.update(self._ask_in_rounds(part, self._asker(model, part)))
                    if self.edit_wise or self.instance_wise:
                        probes.update(self._probe(model, part, lambda c: ()))
            check_restored(model, editor, watched)
            self._edit_log[g] = {"edits": len(edits), "edit_seconds": round(edit_s, 2), "weights_restored": True,
                                 "editor_stats": getattr(editor, "last_stats", None)}
        return outcomes, probes

    def _get_editor(self, ctx: TaskContext) -> Any:
        if self._editor is None:
            self._editor = resolve(self.editor_ref)(**self.editor_args)
            if getattr(self._editor, "cache_dir", "absent") is None and ctx.cache_dir is not None:
                self._editor.cache_dir = Path(ctx.cache_dir)  # key statistics cached per model fingerprint
        return self._editor

    def _result(self, case: Case, outcomes: list[QuestionOutcome], probe: dict[str, Any]) -> SampleResult:
        judged_new = self._judged_new(case)
        values = scoring.score_case(case, outcomes, judged_new, self.style)
        accepted = scoring.reference(case, judged_new)[1]
        g = self._group_of[case.case_id]
        log: dict[str, Any] = {"method": self.method, "k": self.k, "group": g, "questions": [
            scoring.outcome_log(o, answer_matches(o.final_answer, accepted), scoring.question_hop_correct(o, case, judged_new, self.style)) for o in outcomes]}
        if self._unedited(case):
            masked = self._contaminating[case.case_id]
            values["contaminating_edits"] = len(masked)
            values["masked_edits"] = len(masked) if self._masks() else 0
            log["kind"] = "unedited"
            log["contaminating_edits"] = {"edits": [e.sentence for e in masked], "masked": self._masks()}
        elif case.case_id in self._conflicting:
            masked = self._conflicting[case.case_id]
            values["conflicting_edits"] = values["masked_edits"] = len(masked)
            log["conflicting_edits"] = {"edits": [e.sentence for e in masked], "masked": True}
        if g in self._edit_log:
            log["weight_edit"] = {k: v for k, v in self._edit_log[g].items() if k != "editor_stats"}
        if self.edit_wise and not self._unedited(case):  # an unedited case's own edits are not applied
            ok = [completion_matches(t, (e.target_new,)) for t, e in zip(probe["edit"], case.edits)]
            values["edits"], values["edits_success"] = len(ok), sum(ok)
            log["edit_clozes"] = [{"cloze": e.cloze, "target_new": e.target_new, "completion": t, "success": s} for e, t, s in zip(case.edits, probe["edit"], ok)]
        if self.instance_wise:
            chain = case.new_single_hops if judged_new else case.single_hops
            ok = [completion_matches(t, hop_answers(h)) for t, h in zip(probe["hop"], chain)]
            values["instance"] = int(all(ok))
            log["hop_clozes"] = [{"cloze": h.cloze, "answer": h.answer, "completion": t, "recalled": s} for h, t, s in zip(chain, probe["hop"], ok)]
        return SampleResult(sample_id=case.case_id, values=values, log=log)

    # -- aggregation --------------------------------------------------------------------------
    def aggregate(self, results: Sequence[SampleResult], ctx: TaskContext) -> TaskResult:
        n_cases = sum(len(g) for g in self._groups)  # the edited cases with remastered_unedited
        details = {"method": self.method, "prompting": self.style, "k": self.k, "n_groups": len(self._groups) or None,
                   "judged_against": "new answers" if self.edited else "original answers",
                   "group_sizes": sorted({len(g) for g in self._groups}), "n_cases": n_cases}
        size = parse_k(self.k)
        if size is not None and size > n_cases:
            details["k_note"] = (f"k={size} asked for, but the data has only {n_cases} evaluated cases: "
                                 f"one group of {n_cases} (k=all)")
        if self._conflicting:
            details["conflicting_edits"] = {"cases": len(self._conflicting), "edits": sum(map(len, self._conflicting.values())),
                                            "masked": True, "rule": "other cases' edits that contradict an edited case's new chain "
                                            "(same subject and relation, another object) are left out of its prompt or memory"}
        if self._edit_log:
            logs = list(self._edit_log.values())
            details["weight_edit"] = {"editor": self.editor_ref, "editor_args": self.editor_args, "groups": len(logs),
                                      "edits": sum(l["edits"] for l in logs), "edit_seconds": round(sum(l["edit_seconds"] for l in logs), 1),
                                      "weights_restored_checked": sum(l["weights_restored"] for l in logs)}
        if not self._unedited_groups:
            return scoring.aggregate(results, details)
        edited = [r for r in results if r.sample_id not in self._contaminating]
        unedited = [r for r in results if r.sample_id in self._contaminating]
        asked_with = {"incontext": "its group's edits (of the edited cases) in the prompt, less those that rewrite a hop of its original chain",
                      "mello": "its group's edits (of the edited cases) as the memory, less those that rewrite a hop of its original chain",
                      "weight_edit": "its group's edits (of the edited cases) in the weights, all of them (one weight edit per group)",
                      "noedit": "no edits (method noedit)"}[self.method]
        info = {"edit_count": self.remastered_edits, "judged_against": "original answers", "asked_with": asked_with,
                "group_sizes": sorted({len(g) for g in self._unedited_groups})}
        return remastered.split_metrics(scoring.aggregate(edited, details), scoring.aggregate(unedited, {}), unedited, info)
