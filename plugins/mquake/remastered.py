"""MQuAKE-Remastered's unedited cases (``remastered_unedited: true``): batching, masking, metrics.

The corrected protocol (Zhong et al., ICLR 2025; official code github.com/henryzhongsc/
MQuAKE-Remastered, ``eval/mquake_remastered/mquake_dataset.py`` and ``pipeline/mello/eval_loop.py``)
evaluates every case of a split at an edit count N: the cases labelled edited at N have their
edits applied and are judged against ``new_answer`` + ``new_answer_alias``; the others, the
*unedited* cases, are asked with those same edits applied and judged against ``answer`` +
``answer_alias``; the two accuracies are reported separately (``edited_acc``, ``unedited_acc``).
Per asked case the official code drops from the edit memory every edit that *contaminates* the
case's correct chain (same subject and relation as one of its hops, another object:
``get_edits_without_contamination``).

Here the edited cases form the k-groups exactly as without the option; the unedited cases are
spread over those groups in file order (:func:`assign_unedited`; with ``k: all`` every unedited
case meets all the edits, the official setting), and :func:`contaminating` gives the edits of a
group that an unedited case's original chain rules out.
"""

from __future__ import annotations

from typing import Any, Sequence

from harness.benchmark import SampleResult, TaskResult
from harness_plugins.mquake.data import Case, Edit
from harness_plugins.mquake.metrics import hop_answers, normalize_answer

PREFIX = "unedited/"
NO_FACT = "No relevant fact."  # the official memory when every edit is masked


def assign_unedited(groups: Sequence[Sequence[Case]], unedited: Sequence[Case]) -> list[list[Case]]:
    """The unedited cases, in file order, cut into ``len(groups)`` consecutive runs whose sizes
    differ by at most one (the first runs take the remainder); run g is asked with group g's edits."""
    n = len(groups)
    if n == 0:
        return []
    size, extra = divmod(len(unedited), n)
    out, start = [], 0
    for g in range(n):
        end = start + size + (1 if g < extra else 0)
        out.append(list(unedited[start:end]))
        start = end
    return out


def contaminating(case: Case, edits: Sequence[Edit], chain: str = "orig") -> list[Edit]:
    """The edits that rewrite a hop of ``case``'s chain to another object: its *original* chain
    (``chain="orig"``, an unedited case) or its *new* one (``"new"``, an edited case, whose chain
    another case's edit may contradict).

    With the Remastered triples (``orig_triples`` / ``new_triples`` ids and their ``_labeled``
    labels) the official rule: same subject label and relation id as a hop, a different object
    label. Without them: an edit whose cloze is a hop's cloze and whose target is not an
    accepted answer of that hop.
    """
    if chain not in ("orig", "new"):
        raise ValueError(f"chain must be 'orig' or 'new', got {chain!r}")
    raw = case.raw or {}
    ids, labeled = raw.get(f"{chain}_triples"), raw.get(f"{chain}_triples_labeled")
    if ids and labeled:
        path = [(str(lab[0]), str(t[1]), str(lab[2])) for t, lab in zip(ids, labeled)]
        return [e for e in edits if any(e.subject == s and e.relation_id == r and e.target_new != o for s, r, o in path)]
    out = []
    for e in edits:
        for hop in (case.single_hops if chain == "orig" else case.new_single_hops):
            if hop.cloze and normalize_answer(e.cloze) == normalize_answer(hop.cloze):
                if normalize_answer(e.target_new) not in {normalize_answer(a) for a in hop_answers(hop)}:
                    out.append(e)
                    break
    return out


def split_metrics(edited: TaskResult, unedited: TaskResult, unedited_results: Sequence[SampleResult],
                  info: dict[str, Any]) -> TaskResult:
    """The edited cases' result with the unedited cases' metrics added under ``unedited/``."""
    metrics, stderr = dict(edited.metrics), dict(edited.stderr)
    for name, value in unedited.metrics.items():
        if name in ("wrong_retrieval_rate", "ignored_edit_rate"):
            continue  # defined at an edited hop of the case's own chain: unedited cases have none
        metrics[PREFIX + name] = value
        if name in unedited.stderr:
            stderr[PREFIX + name] = unedited.stderr[name]
    contaminated = [r for r in unedited_results if r.values.get("contaminating_edits")]
    counts = dict(unedited.details.get("counts", {}))
    counts.update(contaminated_cases=len(contaminated),
                  contaminating_edits=int(sum(r.values.get("contaminating_edits") or 0 for r in unedited_results)),
                  masked_edits=int(sum(r.values.get("masked_edits") or 0 for r in unedited_results)))
    n_edited, n_unedited = edited.n_samples, len(unedited_results)
    details = dict(edited.details)
    details["unedited"] = {**info, "n_cases": n_unedited, "counts": counts}
    details["averages"] = {
        "unprefixed metrics": f"the {n_edited} cases labelled edited at the edit count, judged against {details.get('judged_against')}",
        f"{PREFIX}*": f"the {n_unedited} unedited cases at the edit count, each asked with its group's edits applied "
                      f"(the edited cases' edits), judged against original answers",
    }
    return TaskResult(metrics=metrics, stderr=stderr, n_samples=n_edited + n_unedited, details=details)
