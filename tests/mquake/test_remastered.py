"""MQuAKE-Remastered's unedited cases (``remastered_unedited: true``) on the hub-layout fixture of
test_variants.py: batching, contamination masking, judging against the original answers, metrics,
and tiny real runs whose edited cases must come out exactly as without the option."""

from __future__ import annotations

import json

import pytest

from harness.benchmark import SampleResult, TaskContext
from harness.runner import RunConfig, run
from harness_plugins.mquake.benchmark import MQuAKEBenchmark
from harness_plugins.mquake.data import MQuAKEDataError
from harness_plugins.mquake.qa import QuestionOutcome
from harness_plugins.mquake.remastered import assign_unedited, contaminating
from tests.mquake import test_mquake_benchmark
from tests.mquake.test_variants import _hub_folder


def _bench(folder, **kw) -> MQuAKEBenchmark:
    args = {"variant": "remastered_cf3k", "data": str(folder), "remastered_edits": 2, "remastered_unedited": True, "method": "incontext", "k": 1, **kw}
    return MQuAKEBenchmark(**args)


def test_unedited_cases_are_spread_over_the_groups_in_file_order():
    groups = [["a"], ["b"], ["c"]]
    assert assign_unedited(groups, list("uvwxy")) == [["u", "v"], ["w", "x"], ["y"]]
    assert assign_unedited(groups[:1], list("uvw")) == [["u", "v", "w"]]
    assert assign_unedited(groups, ["u"]) == [["u"], [], []] and assign_unedited([], ["u"]) == []


def test_contamination_by_the_triples_and_without_them(tmp_path):
    bench = _bench(_hub_folder(tmp_path))
    bench.samples(None, TaskContext(task="t"))
    c1, c2, c3, c5 = (bench._cases[i] for i in "1235")
    edits = [c1.edits[0], c2.edits[0]]  # Bill Gates -> Country1, -> Country2
    assert contaminating(c3, edits) == edits and contaminating(c5, edits) == []
    # no triples: the hop clozes decide (an edit of a hop's cloze to another answer)
    bare = [type(c)(**{**c.__dict__, "raw": {}}) for c in (c3, c5)]
    assert contaminating(bare[0], edits) == edits and contaminating(bare[1], edits) == []
    assert contaminating(c3, [type(c1.edits[0])(**{**c1.edits[0].__dict__, "target_new": "United States of America"})]) == []


def test_batches_put_unedited_cases_with_their_groups_edits(tmp_path):
    folder = _hub_folder(tmp_path)
    bench = _bench(folder)
    samples = bench.samples(None, TaskContext(task="t"))
    assert [s.id for s in samples] == ["1", "2", "3", "4", "5"]  # edited first, then unedited
    assert [s.doc["kind"] for s in samples] == ["edited"] * 2 + ["unedited"] * 3
    assert [[c.case_id for c in g] for g in bench._groups] == [["1"], ["2"]]
    assert [[c.case_id for c in g] for g in bench._unedited_groups] == [["3", "4"], ["5"]]
    assert [s.doc["group"] for s in samples] == [0, 1, 0, 0, 1]
    c = bench._cases
    assert bench._context_edits(c["1"]) == c["1"].edits  # edited: the group's edits, as without the option
    assert bench._context_edits(c["3"]) == ()  # group 0's only edit rewrites case 3's chain: masked
    assert bench._context_edits(c["5"]) == c["2"].edits  # group 1's edit leaves Steve Jobs's chain alone
    # k = all (the official setting): every unedited case meets all the edited cases' edits
    bench = _bench(folder, k="all")
    bench.samples(None, TaskContext(task="t"))
    assert [[c.case_id for c in g] for g in bench._unedited_groups] == [["3", "4", "5"]]
    assert bench._context_edits(bench._cases["5"]) == (c["1"].edits[0], c["2"].edits[0])
    assert bench._contaminating["4"] == (c["1"].edits[0], c["2"].edits[0])
    # limit cuts each kind; weight editing orders samples group by group so each group is edited once
    assert [s.id for s in _bench(folder).samples(None, TaskContext(task="t", limit=1))] == ["1", "3"]
    bench = _bench(folder, method="weight_edit", editor="tests.mquake.test_mquake_benchmark:RecordingEditor")
    assert [s.id for s in bench.samples(None, TaskContext(task="t"))] == ["1", "3", "4", "2", "5"]
    assert bench.samples_per_call == 15  # whole groups of 3


def test_mello_memories_drop_an_unedited_cases_contaminating_edits(tmp_path, retriever):
    import torch

    bench = _bench(_hub_folder(tmp_path), method="mello", k="all")
    bench._retriever = retriever
    bench.samples(None, TaskContext(task="t"))
    c = bench._cases
    bench._asker(None, [c["1"], c["3"], c["5"]])
    group = bench._memories[0]
    assert group.sentences == ["Bill Gates is a citizen of Country1", "Bill Gates is a citizen of Country2"]
    assert bench._memory(c["5"]) is group  # nothing to mask
    assert bench._memory(c["1"]).sentences == ["Bill Gates is a citizen of Country1"]  # edited: case 2's edit contradicts its new chain
    assert bench._memory(c["3"]).sentences == ["No relevant fact."]  # both edits rewrite its chain: the official placeholder
    bench._contaminating["5"] = (c["1"].edits[0],)  # a partial mask keeps the other edit and its embedding
    partial = bench._memory(c["5"])
    assert partial.sentences == ["Bill Gates is a citizen of Country2"] and torch.equal(partial.embeddings, group.embeddings[1:])


def test_edited_cases_drop_other_cases_edits_that_contradict_their_new_chain(tmp_path, retriever):
    """The official Remastered code masks, for an edited case too, the edits of other cases that
    rewrite a hop of its *new* chain to another object: at 2 edits with k = all, cases 1 and 2
    move Bill Gates to Country1 and Country2, so each one's memory and prompt lack the other's edit."""
    folder = _hub_folder(tmp_path)
    c = None
    for unedited in (True, False):  # the same masks with and without the unedited cases
        bench = _bench(folder, k="all", remastered_unedited=unedited)
        samples = bench.samples(None, TaskContext(task="t"))
        c = bench._cases
        e1, e2 = c["1"].edits[0], c["2"].edits[0]
        assert contaminating(c["1"], [e1, e2], chain="new") == [e2] and contaminating(c["2"], [e1, e2], chain="new") == [e1]
        assert bench._context_edits(c["1"]) == (e1,) and bench._context_edits(c["2"]) == (e2,)
        assert {s.id: s.doc.get("masked_edits") for s in samples if s.id in "12"} == {"1": [e2.sentence], "2": [e1.sentence]}
    off = _bench(folder, k="all", remastered_mask_edited=False)
    off.samples(None, TaskContext(task="t"))
    assert off._context_edits(off._cases["1"]) == (e1, e2)  # the switch keeps every edit, as before the rule
    one = _bench(folder, k=1)  # a group of one case has no other case's edit to mask
    one.samples(None, TaskContext(task="t"))
    assert one._conflicting == {}
    mello = _bench(folder, method="mello", k="all", remastered_unedited=False)
    mello._retriever = retriever
    mello.samples(None, TaskContext(task="t"))
    mello._asker(None, [mello._cases["1"], mello._cases["2"]])
    assert mello._memory(mello._cases["1"]).sentences == ["Bill Gates is a citizen of Country1"]
    with pytest.raises(ValueError, match="chain must be"):
        contaminating(c["1"], [], chain="both")


def test_bad_input_names_the_option(tmp_path):
    folder = _hub_folder(tmp_path)
    with pytest.raises(ValueError, match="remastered_unedited applies to the remastered_\\* variants only, not variant='cf3k'"):
        MQuAKEBenchmark(variant="cf3k", data=str(folder), remastered_unedited=True)
    with pytest.raises(ValueError, match="remastered_unedited needs remastered_edits: N"):
        MQuAKEBenchmark(variant="remastered_cf3k", data=str(folder), remastered_unedited=True)
    with pytest.raises(MQuAKEDataError, match="remastered_unedited: .*no unedited case at 5 edits"):
        _bench(folder, remastered_edits=5).samples(None, TaskContext(task="t"))


def _outcome(answer: str | None) -> QuestionOutcome:
    return QuestionOutcome(question="q?", final_answer=answer, failure="" if answer else "parse")


def test_unedited_cases_are_judged_against_their_original_answers(tmp_path):
    bench = _bench(_hub_folder(tmp_path))
    bench.samples(None, TaskContext(task="t"))
    c = bench._cases  # every fixture case: answer North America (alias NA), new answer South America
    judged = {cid: bench._result(c[cid], [_outcome(a)], {}) for cid, a in
              [("1", "South America"), ("2", "North America"), ("3", "North America"), ("4", "South America"), ("5", "na.")]}
    assert {cid: r.values["multihop"] for cid, r in judged.items()} == {"1": 1, "2": 0, "3": 1, "4": 0, "5": 1}
    assert judged["4"].values["new_answer"] == 1 and judged["3"].values["old_answer"] == 1
    assert judged["3"].log["kind"] == "unedited" and judged["3"].log["contaminating_edits"] == {
        "edits": ["Bill Gates is a citizen of Country1"], "masked": True}
    assert judged["3"].values["contaminating_edits"] == judged["3"].values["masked_edits"] == 1
    assert judged["5"].values["contaminating_edits"] == 0 and "kind" not in judged["1"].log
    result = bench.aggregate(list(judged.values()), TaskContext(task="t"))
    m, d = result.metrics, result.details
    assert m["multihop_acc"] == 0.5 and m["new_answer_rate"] == 0.5  # cases 1 and 2 only
    assert m["unedited/multihop_acc"] == pytest.approx(2 / 3) and m["unedited/old_answer_rate"] == pytest.approx(2 / 3)
    assert m["unedited/new_answer_rate"] == pytest.approx(1 / 3) and "unedited/multihop_acc" in result.stderr
    assert result.n_samples == 5 and d["n_cases"] == 2 and d["unedited"]["n_cases"] == 3
    assert d["unedited"]["counts"] == {"questions": 3, "answered": 3, "parse_failures": 0, "max_iterations": 0,
                                       "contaminated_cases": 2, "contaminating_edits": 2, "masked_edits": 2}
    assert d["unedited"]["judged_against"] == "original answers" and "less those that rewrite" in d["unedited"]["asked_with"]
    assert "the 2 cases labelled edited" in d["averages"]["unprefixed metrics"] and "the 3 unedited cases" in d["averages"]["unedited/*"]


# -- tiny real runs ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny():
    from harness.testing import tiny_adapter

    return tiny_adapter("llama")


def _run(tmp_path, tiny, name: str, **args):
    body = "\n".join(f"  {k}: {v}" for k, v in {"variant": "remastered_cf3k", "data": str(_hub_folder(tmp_path / name)),
                                                  "remastered_edits": 2, "max_new_tokens": 6, **args}.items())
    (tmp_path / "tasks").mkdir(exist_ok=True)
    (tmp_path / "tasks" / f"{name}.yaml").write_text(f"task: {name}\nbenchmark: mquake\nargs:\n{body}\n")
    cfg = RunConfig(tasks=[name], output_path=tmp_path / "out", log_samples=True, progress=False, include_paths=[tmp_path / "tasks"])
    doc = run(cfg, adapter=tiny)
    assert not doc["errors"], doc["errors"]
    lines = [json.loads(l) for f in sorted(tmp_path.rglob(f"samples_{name}_*.jsonl")) for l in f.read_text().splitlines()]
    return doc["results"][name], doc["details"][name], {l["sample_id"]: l for l in lines}


@pytest.mark.parametrize("args", [
    {"method": "incontext", "k": 1, "instance_wise": True, "edit_wise": True},
    {"method": "mello", "k": "all", "max_iterations": 1},
    {"method": "weight_edit", "k": 1, "editor": "tests.mquake.test_mquake_benchmark:RecordingEditor"},
], ids=["incontext", "mello", "weight_edit"])
def test_run_reports_unedited_metrics_and_leaves_edited_cases_alone(tmp_path, tiny, args):
    test_mquake_benchmark.EDITOR_CALLS.clear()
    before, before_details, before_lines = _run(tmp_path, tiny, "t_edited", **args)
    calls_before = list(test_mquake_benchmark.EDITOR_CALLS)
    metrics, details, lines = _run(tmp_path, tiny, "t_full", remastered_unedited="true", **args)
    assert sorted(lines) == ["1", "2", "3", "4", "5"] and sorted(before_lines) == ["1", "2"]
    assert [lines[i]["doc"]["kind"] for i in "12345"] == ["edited"] * 2 + ["unedited"] * 3
    for cid in "12":  # the edited cases: same values and the same generations as without the option
        for line in (lines[cid], before_lines[cid]):
            line["log"].get("weight_edit", {}).pop("edit_seconds", None)  # wall time
        assert lines[cid]["values"] == before_lines[cid]["values"] and lines[cid]["log"] == before_lines[cid]["log"]
    same = lambda a, b: json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)  # noqa: E731 - NaN == NaN
    assert same({k: v for k, v in metrics.items() if "/" not in k}, before)
    assert {"unedited/multihop_acc", "unedited/old_answer_rate", "unedited/new_answer_rate", "unedited/parse_failure_rate"} <= set(metrics)
    assert not {"unedited/edit_acc", "unedited/wrong_retrieval_rate", "unedited/ignored_edit_rate"} & set(metrics)
    assert details["n_cases"] == before_details["n_cases"] == 2 and details["unedited"]["n_cases"] == 3
    assert details["counts"] == before_details["counts"]
    counts = details["unedited"]["counts"]
    assert counts["contaminated_cases"] == 2 and counts["questions"] == sum(lines[i]["values"]["questions"] for i in "345")
    assert counts["masked_edits"] == (0 if args["method"] == "weight_edit" else counts["contaminating_edits"])
    for cid in "345":  # judged against the original answers, no edit-wise probe of their own (unapplied) edits
        for q in lines[cid]["log"]["questions"]:
            assert q["correct"] == (q["final_answer"] is not None and q["final_answer"].strip().lower() in ("north america", "na"))
        assert "edit_clozes" not in lines[cid]["log"]
        if args.get("instance_wise"):
            assert [h["answer"] for h in lines[cid]["log"]["hop_clozes"]][-1] == "North America"
    if args["method"] == "weight_edit":  # each group edited once, with its edited cases' edits only
        assert test_mquake_benchmark.EDITOR_CALLS[len(calls_before):] == calls_before == [
            ["Bill Gates is a citizen of Country1"], ["Bill Gates is a citizen of Country2"]]
        assert details["weight_edit"]["groups"] == 2
