"""The MQuAKE acceptance table (markdown) from this folder's results files and sample logs.

    python results/runs/mquake_acceptance/make_table.py            # every run, and its slices
    python results/runs/mquake_acceptance/make_table.py --cases 40 # every method on the first 40 cases

Reads every ``<model>/results_*.json`` here and each task's ``samples_*.jsonl``; every
number is recomputed from the per-sample values and checked against the results file's
aggregate (so the table cannot drift from the logs). Where a task covers more cases than one
of the model's ``SLICES``, an extra row restricts it to those first cases (per-case
evaluation, so the subset is exact; at k = all those cases were asked under all the run's
edits). "question 1" = multi-hop accuracy on the
first paraphrase only, which every task asks, so it compares tasks asking 1 or 3.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["noedit", "noedit_cot", "incontext_k1", "incontext_kall", "mello_k1", "mello_k1_q1", "mello_kall", "mello_kall_q1",
         "ft_k1", "ft_kall", "ft_k1_linf5e-3", "rome_k1", "rome_k1_cot", "rome_kall", "memit_k1", "memit_k1_cot", "memit_kall"]
#: The first-N-cases rows per model: the sizes its smaller runs cover, so every method can be
#: compared on the same cases.
SLICES = {"smollm2-135m": [10, 40], "gemma3-270m": [5]}
HEADER = ["model", "method", "k", "cases", "questions asked", "multi-hop acc (any asked)", "multi-hop acc (question 1)", "hop-wise",
          "instance-wise", "edit-wise", "old-answer rate", "parse failures / questions", "wrong retrievals / edited-hop retrievals",
          "ignored edits / right retrievals", "out of iterations / questions", "wall s"]


def _load(folder: Path, samples_file: str) -> list[dict]:
    return [json.loads(line) for line in (folder / samples_file).read_text().splitlines() if line.strip()]


def _mean(samples: list[dict], key: str) -> float | None:
    vals = [s["values"][key] for s in samples if s["values"].get(key) is not None]
    return sum(vals) / len(vals) if vals else None


def _sum(samples: list[dict], key: str) -> int:
    return int(sum(s["values"].get(key) or 0 for s in samples))


def _acc(x: float | None, n: int) -> str:
    return "–" if x is None else f"{x:.3f} ({round(x * n)}/{n})"


def _row(model: str, method: str, k: str, samples: list[dict], wall: str) -> list[str]:
    n = len(samples)
    q1 = sum(bool(s["log"]["questions"] and s["log"]["questions"][0]["correct"]) for s in samples)
    mello = method.startswith("mello")
    edits = _sum(samples, "edits")
    right = _sum(samples, "edited_hop_retrievals") - _sum(samples, "wrong_retrievals")
    return [model, method, k, str(n), str(_sum(samples, "questions")), _acc(_mean(samples, "multihop"), n), f"{q1 / n:.3f} ({q1}/{n})",
            _acc(_mean(samples, "hop"), n), _acc(_mean(samples, "instance"), n),
            f"{_sum(samples, 'edits_success') / edits:.3f} ({_sum(samples, 'edits_success')}/{edits})" if edits else "–",
            _acc(_mean(samples, "old_answer"), n), f"{_sum(samples, 'parse_failures')}/{_sum(samples, 'questions')}",
            f"{_sum(samples, 'wrong_retrievals')}/{_sum(samples, 'edited_hop_retrievals')}" if mello else "–",
            f"{_sum(samples, 'ignored_edits')}/{right}" if mello else "–",
            f"{_sum(samples, 'max_iterations')}/{_sum(samples, 'questions')}" if mello else "–", wall]


def _check(samples: list[dict], metrics: dict, where: str) -> None:
    for key, name in (("multihop", "multihop_acc"), ("hop", "hop_acc"), ("instance", "instance_acc")):
        mine = _mean(samples, key)
        if name in metrics and not math.isclose(mine, metrics[name], abs_tol=1e-9):
            raise SystemExit(f"{where}: {name} {metrics[name]} in the results file, {mine} from the sample log")


#: MEMIT runs from before ``mlp_norm`` existed (commit dffa62f): they wrote R into the MLP output
#: as it is, the rule now called ``mlp_norm: ignore``.
BEFORE_MLP_NORM = {"gemma3-270m/results_20261201T222054_07c5bc.json"}


def _mlp_norm(res: dict, res_file: Path, task: str) -> str:
    """MEMIT's post-norm rule for rows of a model whose MLP output is normalised (else "")."""
    args = res["tasks"][task]["args"]
    if "MEMITEditor" not in str(args.get("editor")) or not res["model"]["name"].startswith("gemma"):
        return ""
    if f"{res_file.parent.name}/{res_file.name}" in BEFORE_MLP_NORM:
        return "ignore"
    return args.get("editor_args", {}).get("mlp_norm", "linearise")


def rows() -> list[list[str]]:
    tasks: dict[tuple[str, str, int], tuple[dict, dict, Path, str]] = {}  # the newest run per model, task and size
    for res_file in sorted(HERE.glob("*/results_*.json")):
        res = json.loads(res_file.read_text())
        for task, info in res["tasks"].items():
            if task in res["results"]:
                rule = _mlp_norm(res, res_file, task)
                tasks[(res["model"]["name"], task + (f" [{rule}]" if rule else ""), info["n_samples"])] = (res, info, res_file.parent, task)
    data = json.loads((HERE / "../../../../shared/refdata/mquake/MQuAKE-hard-dev100.json").resolve().read_text()) \
        if (HERE / "../../../../shared/refdata/mquake/MQuAKE-hard-dev100.json").exists() else None
    order = {str(c["case_id"]): i for i, c in enumerate(data)} if data else {}
    short = lambda t: t.removeprefix("mquake_hard_")  # noqa: E731
    out = []
    for model in sorted({m for m, _, _ in tasks}):
        base = lambda t: short(t).split(" [")[0]  # noqa: E731
        mine = sorted([(t, n) for m, t, n in tasks if m == model], key=lambda tn: (ORDER.index(base(tn[0])) if base(tn[0]) in ORDER else 99, tn[1], tn[0]))
        smallest = min(n for _, n in mine)
        largest = {t: max(n for u, n in mine if u == t) for t, _ in mine}
        for label, n_samples in mine:
            res, info, folder, task = tasks[(model, label, n_samples)]
            d = res["details"][task]
            samples = _load(folder, info["samples_file"])
            _check(samples, res["results"][task], f"{model}/{task}")
            k = "–" if d["method"] == "noedit" else str(d["k"])
            if str(d["k"]) == "all" and d["method"] == "weight_edit":
                k = f"all ({len(samples)} cases' {d['weight_edit']['edits']} edits)"
            method = d["method"] + (" (question 1 only)" if info["args"].get("n_questions") == 1 else "")
            if d.get("prompting") == "cot" and d["method"] != "mello":
                method += " (chain of thought)"
            if d["method"] == "weight_edit":
                method = d["weight_edit"]["editor"].rsplit(":", 1)[-1].removesuffix("Editor")
                if method == "FT":
                    method += f" (L-inf {d['weight_edit']['editor_args'].get('linf', 5e-4):g})"
                if d.get("prompting") == "cot":
                    method += " (chain of thought)"
                if " [" in label:
                    method += f" (mlp_norm: {label.split(' [')[1].rstrip(']')})"
            out.append(_row(model, method, k, samples, f"{info['wall_seconds']:.0f}"))
            if n_samples != largest[label] or not order:
                continue
            for size in SLICES.get(model, [smallest]):
                if len(samples) > size:
                    # evaluation is per case, so the first cases are an exact subset of the run (at
                    # k = all their prompts are asked under every evaluated case's edits)
                    first = sorted(samples, key=lambda s: order[s["sample_id"]])[:size]
                    out.append(_row(model, method, f"{k} (first {size})", first, "–"))
    return out


MELLO_HEADER = ["model", "k", "questions", "final answers", "retrieval rounds", "subquestion restates the question",
                "verdict: contradicts", "verdict: no contradiction", "no verdict (step malformed or out of rounds)"]


def mello_rows() -> list[list[str]]:
    """How MeLLo's steps went: verdicts on retrieved facts, and subquestions that restate the
    whole question (over 80% of the subquestion's distinct words are in the question)."""
    out: dict[tuple[str, str], list[str]] = {}  # the newest result per model and task
    for res_file in sorted(HERE.glob("*/results_*.json")):
        res = json.loads(res_file.read_text())
        for task, info in res["tasks"].items():
            if task not in res["results"] or res["details"][task]["method"] != "mello":
                continue
            questions = [q for s in _load(res_file.parent, info["samples_file"]) for q in s["log"]["questions"]]
            rounds = [(q, r) for q in questions for r in q["retrievals"]]
            restated = sum(len(_words(r["subquestion"]) & _words(q["question"])) > 0.8 * len(_words(r["subquestion"])) for q, r in rounds)
            verdicts = [r.get("verdict") for _, r in rounds]
            out[(res["model"]["name"], task)] = ([res["model"]["name"], str(res["details"][task]["k"]), str(len(questions)), str(sum(q["final_answer"] is not None for q in questions)),
                        str(len(rounds)), str(restated), str(verdicts.count("contradicts")), str(verdicts.count("no contradiction")), str(verdicts.count(None))])
    return [out[key] for key in sorted(out)]


def _words(text: str) -> set[str]:
    return set(text.lower().split())


def _print(header: list[str], body: list[list[str]]) -> None:
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in body:
        print("| " + " | ".join(r) + " |")


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, help="only the rows over exactly this many cases (every method on the same cases)")
    args = ap.parse_args()
    body = rows()
    if args.cases:
        _print(HEADER, [r for r in body if r[3] == str(args.cases)])
        return
    _print(HEADER, body)
    print()
    _print(MELLO_HEADER, mello_rows())


if __name__ == "__main__":
    main()
