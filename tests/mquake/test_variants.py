"""Loaders for MQuAKE-CF-3k, CF-3k-v2, MQuAKE-T and MQuAKE-Remastered, each on a small fixture
written here in that release's schema (and folder layout)."""

from __future__ import annotations

import copy
import json

import pytest

from harness_plugins.mquake.benchmark import MQuAKEBenchmark
from harness_plugins.mquake.data import MQuAKEDataError
from harness_plugins.mquake.variants import load_remastered, load_variant, remastered_kind, unflatten
from tests.mquake.conftest import make_case


def _cases(n: int = 3) -> list[dict]:
    out = []
    for i in range(1, n + 1):
        case = make_case(i)
        case["requested_rewrite"][0]["target_new"]["str"] = f"Country{i}"
        out.append(case)
    return out


def _write(path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


@pytest.mark.parametrize("variant, name, nested", [("cf3k", "MQuAKE-CF-3k.json", True), ("cf3k_v2", "MQuAKE-CF-3k-v2.json", False)])
def test_original_release_from_a_folder_or_the_file(tmp_path, variant, name, nested):
    path = tmp_path / ("datasets" if nested else "") / name
    _write(path, _cases())
    for source in (str(tmp_path), str(path)):
        cases = load_variant(variant, source)
        assert [c.case_id for c in cases] == ["1", "2", "3"]
        assert cases[1].edits[0].target_new == "Country2"
    with pytest.raises(MQuAKEDataError, match="neither"):
        load_variant("cf3k_v2" if variant == "cf3k" else "cf3k", str(tmp_path))


def test_mquake_t_keeps_its_extended_answers(tmp_path):
    from harness_plugins.mquake import scoring

    raw = _cases(2)
    raw[0]["answer_extended"] = ["N. America", "North American continent"]
    _write(tmp_path / "MQuAKE-T.json", raw)
    cases = load_variant("t", str(tmp_path))
    assert cases[0].answer_extended == ("N. America", "North American continent")
    assert "N. America" in scoring.reference(cases[0], False)[1]  # an accepted unedited answer
    assert cases[1].answer_extended == ()


def _remastered_rows() -> list[dict]:
    """Cases 1-4 rewrite Bill Gates's citizenship (to Country1..4), so the edit of any of them
    contaminates the original chain of the others; case 5 is the same chain about Steve Jobs
    (founder of Apple), which none of them touches. Edited: case 1 at 1 edit, cases 1-2 at 2,
    all five at 5 (no unedited case there)."""
    rows = []
    cases = _cases(4) + [json.loads(json.dumps(make_case(5)).replace("Bill Gates", "Steve Jobs").replace("Microsoft", "Apple"))]
    cases[4]["requested_rewrite"][0]["target_new"]["str"] = "Country5"
    for i, case in enumerate(cases, 1):
        row = copy.deepcopy(case)
        subject = row["requested_rewrite"][0]["subject"]
        for r in row["requested_rewrite"]:
            for side in ("target_new", "target_true"):
                obj = r.pop(side)
                r[f"{side}_str"], r[f"{side}_id"] = obj["str"], obj["id"]
        row.pop("orig")
        row["new_triples"], row["orig_triples"] = [[f"Q{i}00", "P27", f"Q{i}"]], [[f"Q{i}00", "P27", "Q30"]]
        row["new_triples_labeled"] = [[subject, "{} is a citizen of", row["requested_rewrite"][0]["target_new_str"]]]
        row["orig_triples_labeled"] = [[subject, "{} is a citizen of", "United States of America"]]
        row["split"] = {"1": ["edited"] if i == 1 else ["unedited"], "2": ["edited"] if i <= 2 else ["unedited"], "5": ["edited"]}
        rows.append(row)
    return rows


def _hub_folder(tmp_path):
    """A local folder in the hub repository's layout: data/<split>-00000-of-00001.parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "MQuAKE-Remastered"
    (folder / "data").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(_remastered_rows()), folder / "data" / "CF3k-00000-of-00001.parquet")
    pq.write_table(pa.Table.from_pylist(_remastered_rows()[:1]), folder / "data" / "T-00000-of-00001.parquet")
    return folder


def test_remastered_from_a_folder_in_the_hub_layout(tmp_path):
    folder = _hub_folder(tmp_path)
    cases = load_variant("remastered_cf3k", str(folder))
    assert [c.case_id for c in cases] == ["1", "2", "3", "4", "5"]
    assert cases[2].edits[0].target_new == "Country3" and cases[2].edits[0].target_true == "United States of America"
    assert [c.case_id for c in load_variant("remastered_cf3k", str(folder), remastered_edits=2)] == ["1", "2"]
    assert len(load_variant("remastered_t", str(folder))) == 1
    with pytest.raises(MQuAKEDataError, match="no 'split' labels for 7 edits"):
        load_variant("remastered_cf3k", str(folder), remastered_edits=7)
    with pytest.raises(MQuAKEDataError, match="no file for split 'CF9k'"):
        load_variant("remastered_cf9k", str(folder))


def test_load_remastered_keeps_both_kinds_with_their_labels(tmp_path):
    folder = _hub_folder(tmp_path)
    for n, edited_ids, unedited_ids in ((1, ["1"], ["2", "3", "4", "5"]), (2, ["1", "2"], ["3", "4", "5"])):
        edited, unedited = load_remastered("remastered_cf3k", str(folder), n)
        assert [c.case_id for c in edited] == edited_ids and [c.case_id for c in unedited] == unedited_ids
        assert all(c.raw["split"][str(n)] == ["edited"] for c in edited)
        assert all(c.raw["split"][str(n)] == ["unedited"] for c in unedited)
    assert unedited[-1].edits[0].subject == "Steve Jobs" and unedited[-1].raw["orig_triples_labeled"][0][0] == "Steve Jobs"
    with pytest.raises(MQuAKEDataError, match="remastered_unedited: .*no unedited case at 5 edits .*all 5 evaluated cases"):
        load_remastered("remastered_cf3k", str(folder), 5)
    with pytest.raises(MQuAKEDataError, match="remastered_unedited applies to the remastered_\\* variants only, not 'cf3k'"):
        load_remastered("cf3k", str(folder), 1)


def test_remastered_kinds_follow_the_official_labels():
    assert remastered_kind("remastered_cf3k", ["edited"]) == "edited"
    assert remastered_kind("remastered_t", ["unedited"]) == remastered_kind("remastered_cf9k", []) == "unedited"
    # CF6334 (train/test labels): train_edited and test_edited are edited, test_unedited unedited, others left out
    assert remastered_kind("remastered_cf6334", ["train_edited", "test_edited"]) == "edited"
    assert remastered_kind("remastered_cf6334", ["test_edited", "test_edited_unique"]) == "edited"
    assert remastered_kind("remastered_cf6334", ["test_unedited"]) == "unedited"
    assert remastered_kind("remastered_cf6334", []) is None and remastered_kind("remastered_cf6334", ["edited"]) is None


def test_remastered_hub_id_downloads_then_reads_the_same_layout(tmp_path, monkeypatch):
    import huggingface_hub

    folder = _hub_folder(tmp_path)
    calls = []

    def fake_snapshot(repo_id, repo_type, allow_patterns):
        calls.append((repo_id, repo_type, allow_patterns))
        return str(folder)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot)
    cases = load_variant("remastered_cf3k")  # the default hub id
    assert len(cases) == 5
    assert calls == [("henryzhongsc/MQuAKE-Remastered", "dataset", ["data/CF3k-*", "*CF3k.json", "*CF3k.jsonl"])]


def test_hub_unreachable_is_a_clear_error(monkeypatch):
    import huggingface_hub

    def offline(**kw):
        raise OSError("offline")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(MQuAKEDataError, match="could not fetch .* from hub dataset 'someone/MQuAKE'.*offline"):
        load_variant("cf3k", "someone/MQuAKE")


def test_unflatten_keeps_nested_rewrites():
    row = {"requested_rewrite": [{"prompt": "{} x", "subject": "s", "target_new": {"str": "a", "id": "1"}, "target_true": {"str": "b", "id": "2"}}],
           "answer_alias": None}
    out = unflatten(row)
    assert out["requested_rewrite"][0]["target_new"] == {"str": "a", "id": "1"} and out["answer_alias"] == []


def test_benchmark_reads_a_variant(tmp_path):
    from harness.benchmark import TaskContext

    _write(tmp_path / "datasets" / "MQuAKE-CF-3k.json", _cases())
    bench = MQuAKEBenchmark(variant="cf3k", data=str(tmp_path), method="incontext", k=1000)
    samples = bench.samples(None, TaskContext(task="t"))
    assert [s.id for s in samples] == ["1", "2", "3"]
    details = bench.aggregate([], TaskContext(task="t")).details
    assert "only 3 evaluated cases" in details["k_note"] and details["group_sizes"] == [3]
    with pytest.raises(ValueError, match="variant must be one of"):
        MQuAKEBenchmark(variant="cf-3k")
