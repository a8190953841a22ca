"""The loader reads all five official per-type layouts, with the real files' quirks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness_plugins.ravel.data import ENTITY_TYPES, OTHER, RavelDataError, available_types, file_names, load_entity_type
from ravel_files import OFFICIAL_ATTRIBUTES, write_type

REFDATA = Path(__file__).resolve().parents[3] / "shared" / "refdata" / "ravel"
SHIPPED = Path(__file__).resolve().parents[2] / "tasks" / "ravel" / "data"


def _type_files(tmp_path: Path, entity_type: str) -> Path:
    """A small folder of one type: the type's official attributes, with every quirk we know."""
    attrs = OFFICIAL_ATTRIBUTES[entity_type]
    a0, a1, last = attrs[0], attrs[1], attrs[-1]
    entities = {
        "alpha": {a: f"{a} of alpha" for a in attrs[:-1]},  # the last attribute has prompts but no gold anywhere
        "beta": {a0: "", a1: None},  # empty and null values: no gold
        "gamma": {a0: 1998, a1: ["x", "y", ""]},  # a number; a list of acceptable values
        "delta": {a0: "unsplit"},  # missing from the entity split file
    }
    prompts = {a: [f"Q: {a} of %s?", f"{a}: %s ->"] for a in attrs}
    prompts[a0].append(f"Q: {a0} of %s?")  # a duplicate template
    prompts[a1].append("never split %s")  # missing from the prompt split file
    prompt_split = {p: ("train" if i == 0 else "test") for a in attrs for i, p in enumerate(prompts[a][:2])}
    entity_split = {"alpha": "train", "beta": "val", "gamma": "test"}
    wiki = {
        "%s was founded in": {"split": "train", "entity": None},
        "The history of %s is": {"split": "test", "entity": "alpha"},
        "Nobody knows %s": {"split": "val", "entity": "not-an-entity"},
    }
    return write_type(tmp_path / entity_type, entity_type, entities, prompts, prompt_split, entity_split, wiki)


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_every_official_layout_loads_with_its_quirks(tmp_path, entity_type):
    folder = _type_files(tmp_path, entity_type)
    data = load_entity_type(folder, entity_type)
    attrs = OFFICIAL_ATTRIBUTES[entity_type]
    assert data.attributes == attrs
    assert data.attributes_with_gold == attrs[:-1]  # the last one has prompts, no values
    assert data.gold("alpha", attrs[0]) == (f"{attrs[0]} of alpha",)
    assert data.gold("beta", attrs[0]) == () and data.gold("beta", attrs[1]) == ()
    assert data.gold("gamma", attrs[0]) == ("1998",)
    assert data.gold("gamma", attrs[1]) == ("x", "y")
    assert data.entities("train") == ["alpha"] and data.entities("test") == ["gamma"]
    assert "delta" not in data.entities("train") + data.entities("val") + data.entities("test")
    # two split templates per attribute; the duplicate and the unsplit one are dropped
    assert {a: len(data.attribute_templates(a)) for a in attrs} == {a: 2 for a in attrs}
    assert [t.split for t in data.attribute_templates(attrs[0])] == ["train", "test"]
    assert [(t.text, t.entity, t.attribute) for t in data.wiki_templates] == [
        ("%s was founded in", None, OTHER),
        ("The history of %s is", "alpha", OTHER),
    ]
    assert data.notes == {
        "empty_values": 2,
        "attributes_without_gold": 1,
        "duplicate_templates": 1,
        "templates_without_split": 1,
        "entities_without_split": 1,
        "wiki_unknown_entities": 1,
    }
    assert available_types(folder) == [entity_type]


def test_template_fill_and_entity_span_keep_other_percent_signs():
    from harness_plugins.ravel.data import Template

    t = Template("100% sure: %s is in", "Country", "train")
    assert t.fill("Rio de Janeiro") == "100% sure: Rio de Janeiro is in"
    start, end = t.entity_span("Rio de Janeiro")
    assert t.fill("Rio de Janeiro")[start:end] == "Rio de Janeiro"


@pytest.mark.parametrize(
    "key, content, words",
    [
        ("entity_attributes", "{not json", ["not valid JSON", ":1:"]),
        ("entity_attributes", "[1, 2]", ["expected a JSON object"]),
        ("entity_attributes", json.dumps({"alpha": ["Country"]}), ["entity 'alpha'", "expected an object"]),
        ("entity_attributes", json.dumps({"alpha": {"Country": True}}), ["entity 'alpha'", "'Country'", "boolean"]),
        ("attribute_to_prompts", json.dumps({"Country": "%s is in"}), ["attribute 'Country'", "list of templates"]),
        ("attribute_to_prompts", json.dumps({"Country": ["no placeholder"]}), ["'Country'", "exactly one '%s'"]),
        ("prompt_to_split", json.dumps({"Q: Country of %s?": "dev"}), ["split must be one of"]),
        ("wiki_prompts", json.dumps({"%s x": {"entity": None}}), ["'split' and 'entity'"]),
    ],
)
def test_malformed_files_name_the_file_and_the_problem(tmp_path, key, content, words):
    folder = _type_files(tmp_path, "city")
    path = folder / file_names("city")[key]
    path.write_text(content, encoding="utf-8")
    with pytest.raises(RavelDataError) as err:
        load_entity_type(folder, "city")
    assert str(path) in str(err.value)
    for w in words:
        assert w in str(err.value)


def test_missing_file_is_named(tmp_path):
    folder = _type_files(tmp_path, "verb")
    (folder / file_names("verb")["wiki_prompts"]).unlink()
    with pytest.raises(RavelDataError, match="wikipedia_verb_entity_prompts.json: file not found"):
        load_entity_type(folder, "verb")


def test_shipped_city_data_is_complete():
    data = load_entity_type(SHIPPED, "city")
    assert set(data.attributes_with_gold) == {"Country", "Continent", "Language"}
    assert len(data.entities("train")) >= 50 and len(data.entities("test")) >= 20
    for a in data.attributes:
        splits = {t.split for t in data.attribute_templates(a)}
        assert {"train", "test"} <= splits
    assert all(data.gold(e, "Country") for e in data.values)
    assert data.notes == {}


@pytest.mark.refdata
@pytest.mark.skipif(not REFDATA.exists(), reason="../shared/refdata/ravel is not present")
@pytest.mark.parametrize("entity_type, n_entities, attrs", [
    ("city", 3552, ["Country", "Continent", "Latitude", "Longitude", "Language", "Timezone"]),
    ("physical_object", 563, ["Category", "Color", "Size", "Texture"]),
])
def test_official_files(entity_type, n_entities, attrs):
    data = load_entity_type(REFDATA, entity_type)
    assert len(data.values) == n_entities
    assert data.attributes == attrs
    assert sum(len(data.entities(s)) for s in ("train", "val", "test")) == n_entities
    assert len(data.templates) == sum(len(data.attribute_templates(a)) for a in attrs) > 100
    assert all(t.text.count("%s") == 1 for t in data.templates + data.wiki_templates)
    assert any(t.entity is None for t in data.wiki_templates) and any(t.entity for t in data.wiki_templates)
@pytest.mark.refdata
@pytest.mark.skipif(not REFDATA.exists(), reason="../shared/refdata/ravel is not present")
def test_official_city_plan_uses_all_source_kinds():
    from harness_plugins.ravel.instance import InstanceConfig, pairs_to_generate, plan

    data = load_entity_type(REFDATA, "city")
    p = plan(data, InstanceConfig(attributes=["Country", "Continent", "Language"], train_entities=40, test_entities=20,
                                  train_templates=3, test_templates=2, wiki_templates=5))
    assert len(p.train_entities) == 40 and set(p.train_entities) <= set(data.entities("train"))
    assert set(p.test_entities) <= set(data.entities("test"))
    assert {t.attribute for t in p.base_templates["train"]} == {"Country", "Continent", "Language"}
    assert {t.attribute for t in p.source_templates["train"]} == {"Latitude", "Longitude", "Timezone"}
    for split, pool in (("train", p.train_entities), ("entity_test", p.test_entities), ("context_test", p.train_entities)):
        assert p.wiki[split] and all(t.entity is None or t.entity in pool for t in p.wiki[split])
    assert len(pairs_to_generate(p)) == 9 * 60 + 6 * 40
