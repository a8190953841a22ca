"""Templates, pair records and the pair sampler (official formats, our file, errors)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from harness_plugins.causalgym.pairs import PairDataError, load_pairs, make_splits, sample_pair, sample_pairs
from harness_plugins.causalgym.templates import TemplateError, load_templates, parse_task, split_template

REPO = Path(__file__).resolve().parents[2]
OURS = REPO / "tasks" / "causalgym" / "data" / "templates.json"
REF = REPO.parent / "shared" / "refdata" / "causalgym"
needs_ref = pytest.mark.skipif(not REF.exists(), reason="../shared/refdata/causalgym is not present")

SPEC = {
    "templates": ["The {subject} near the {clause.object} {clause.verb}"],
    "label": "subject",
    "result_prepend_space": True,
    "labels": {"sg": ["is"], "pl": ["are", "were"]},
    "variables": {
        "subject": {"sg": ["cat", "dog"], "pl": ["cats", "dogs"]},
        "clause.object": ["tree", "house", "car"],
        "clause.verb": ["grew", "stood", "drove"],
    },
}


def test_split_template_matches_the_published_segmentation():
    pieces = split_template("The {subject} that {verbed} the {object}")
    assert [p.text if p.var is None else "{" + p.var + "}" for p in pieces] == ["The", "{subject}", " that", "{verbed}", " the", "{object}"]
    assert [p.space for p in pieces] == ["", " ", "", " ", "", " "]
    first = split_template("{subordinator}{the} {np1} {clause}")
    assert first[0].text == "" and [p.var for p in first[1:]] == ["subordinator", "the", "np1", "clause"]
    assert first[2].space == ""  # glued variables carry their own spacing


def test_parse_fills_spans_and_finds_the_label_span():
    t = parse_task("toy", SPEC)
    assert t.types == ["sg", "pl"] and t.labels["pl"] == [" are", " were"]  # result_prepend_space
    assert t.first_label_span == 1
    spans = t.fill({"subject": "cat", "clause.object": "tree", "clause.verb": "grew"})
    assert spans == ["<|endoftext|>The", " cat", " near", " the", " tree", " grew"]


@pytest.mark.parametrize("broken, message", [
    ({"templates": []}, "non-empty list"),
    ({"label": "nothing"}, "does not occur"),
    ({"labels": {"sg": ["is"]}}, "exactly two types"),
    ({"variables": {"subject": {"sg": ["cat"], "pl": ["cats"]}}}, "has no 'clause.object'"),
    ({"variables": {**SPEC["variables"], "subject": ["cat"]}}, "must map each type"),
])
def test_malformed_specs_are_reported_with_task_and_field(broken, message):
    with pytest.raises(TemplateError, match=message) as err:
        parse_task("toy", {**SPEC, **broken}, "file.json")
    assert "file.json: task 'toy'" in str(err.value)


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(TemplateError, match="not found"):
        load_templates(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"a": [1,\n 2')
    with pytest.raises(TemplateError, match=r"bad.json:2: not valid JSON"):
        load_templates(bad)


def test_our_templates_cover_the_five_phenomenon_groups():
    raw = json.loads(OURS.read_text())
    templates = load_templates(OURS)
    assert set(templates) == set(raw)
    groups = {spec["group"] for spec in raw.values()}
    assert groups == {"agreement", "licensing", "garden path", "gross syntactic state", "long-distance dependencies"}


def test_sampler_pairs_respect_types_shared_and_coindexed_variables():
    t = parse_task("toy", SPEC)
    rng = random.Random(0)
    for _ in range(50):
        p = sample_pair(t, rng)
        assert p.base_type != p.src_type
        assert p.base[2:] == p.src[2:]  # everything but the label variable is shared
        assert p.base_label in t.labels[p.base_type] and p.src_label in t.labels[p.src_type]
        assert p.base[1].strip() in SPEC["variables"]["subject"][p.base_type]
        obj = SPEC["variables"]["clause.object"].index(p.base[4].strip())
        assert SPEC["variables"]["clause.verb"].index(p.base[5].strip()) == obj  # dotted names share one index


def test_sampler_is_seeded_and_splits_have_disjoint_bases():
    t = load_templates(OURS)["agr_number_pp"]
    a = make_splits(t, {"train": 200, "dev": 50, "test": 50}, seed=7)
    b = make_splits(t, {"train": 200, "dev": 50, "test": 50}, seed=7)
    c = make_splits(t, {"train": 200, "dev": 50, "test": 50}, seed=8)
    assert a == b and a["dev"] != c["dev"]
    bases = {split: {p.base_text for p in pairs} for split, pairs in a.items()}
    assert not bases["train"] & bases["dev"] and not bases["train"] & bases["test"] and not bases["dev"] & bases["test"]
    assert [len(v) for v in a.values()] == [200, 50, 50]


def test_sampler_reports_an_exhausted_template():
    tiny = parse_task("tiny", {**SPEC, "variables": {"subject": {"sg": ["cat"], "pl": ["cats"]},
                                                     "clause.object": ["tree"], "clause.verb": ["grew"]}})
    with pytest.raises(PairDataError, match="too few distinct sentences"):
        sample_pairs(tiny, 5, seed=0, exclude_bases={"<|endoftext|>The cat near the tree grew", "<|endoftext|>The cats near the tree grew"})


def test_pair_records_from_json_and_jsonl(tmp_path):
    recs = [
        {"base": ["<|endoftext|>The", " cat"], "src": ["<|endoftext|>The", " cats"], "base_type": "sg", "src_type": "pl",
         "base_label": " is", "src_label": " are", "task": "toy"},
        {"base": ["<|endoftext|>The", " dogs"], "src": ["<|endoftext|>The", " dog"], "base_type": "pl", "src_type": "sg",
         "base_label": " are", "src_label": " is", "task": "other"},
    ]
    (tmp_path / "causalgym_dev.json").write_text(json.dumps(recs))
    (tmp_path / "pairs.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    from_dir = load_pairs(tmp_path, "dev", ["toy"])
    from_jsonl = load_pairs(tmp_path / "pairs.jsonl")
    assert len(from_dir) == 1 and from_dir[0].base_text == "<|endoftext|>The cat"
    assert [p.task for p in from_jsonl] == ["toy", "other"]
    with pytest.raises(PairDataError, match="no pairs for task"):
        load_pairs(tmp_path, "dev", ["missing"])


@pytest.mark.parametrize("edit, message", [
    (lambda r: r.pop("src_label"), r"record 0: missing field\(s\) \['src_label'\]"),
    (lambda r: r.update(src=["<|endoftext|>The"]), "spans must be aligned"),
    (lambda r: r.update(src_type="sg"), "needs two types"),
])
def test_malformed_records_name_file_and_record(tmp_path, edit, message):
    rec = {"base": ["<|endoftext|>The", " cat"], "src": ["<|endoftext|>The", " cats"], "base_type": "sg",
           "src_type": "pl", "base_label": " is", "src_label": " are", "task": "toy"}
    edit(rec)
    path = tmp_path / "pairs.json"
    path.write_text(json.dumps([rec]))
    with pytest.raises(PairDataError, match=message) as err:
        load_pairs(path)
    assert str(path) in str(err.value)


@needs_ref
def test_official_templates_load_and_reproduce_the_published_records():
    templates = load_templates(REF / "templates_syntaxgym.json")
    templates.update(load_templates(REF / "templates_preposing_in_pp.json"))
    assert len(templates) == 31
    for split in ("dev", "train"):
        pairs = load_pairs(REF, split)
        assert len(pairs) == {"dev": 2900, "train": 11600}[split]
        for p in pairs:
            t = templates[p.task]
            assert len(p.base) == len(t.pieces)
            for i, piece in enumerate(t.pieces):
                literal = ("<|endoftext|>" if i == 0 else "") + piece.text
                if piece.var is None:
                    assert p.base[i] == literal == p.src[i]
                elif piece.var not in t.label_vars:
                    assert p.base[i] == p.src[i]
            assert p.base_label in t.labels[p.base_type] and p.src_label in t.labels[p.src_type]


@needs_ref
def test_our_sampler_on_official_templates_gives_record_shaped_pairs():
    templates = load_templates(REF / "templates_syntaxgym.json")
    official = {p.task: p for p in load_pairs(REF, "dev")}
    for name, t in templates.items():
        ours = sample_pairs(t, 3, seed=0)
        for p in ours:
            assert len(p.base) == len(official[name].base)
            assert p.base[0].startswith("<|endoftext|>")


def test_hub_source_offline_fails_clearly(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(PairDataError, match=r"cannot load hub dataset 'aryaman/causalgym' split 'dev'"):
        load_pairs("hf://aryaman/causalgym", "dev")
