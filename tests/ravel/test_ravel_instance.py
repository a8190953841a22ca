"""Instance building: known pairs only, label != inv_label, disjoint splits, flattened sources."""

from __future__ import annotations

from collections import Counter

import pytest

from harness_plugins.ravel.data import load_entity_type
from harness_plugins.ravel.instance import Completion, InstanceConfig, RavelInstance, build_instance, plan, pairs_to_generate
from harness_plugins.ravel.matching import contains_value, producible, same_value
from ravel_files import write_type


@pytest.fixture()
def world(tiny_ravel_world):
    ad, folder = tiny_ravel_world
    return ad, load_entity_type(folder, "city")


def _cfg(**kw) -> InstanceConfig:
    base = dict(train_entities=100, test_entities=100, train_templates=5, test_templates=5, wiki_templates=5,
                source_entities=20, sources_per_base=3, max_examples_per_template={"train": 1000, "entity_test": 1000, "context_test": 1000})
    return InstanceConfig(**{**base, **kw})


def test_instance_from_a_real_tiny_model(world, tmp_path):
    from harness_plugins.ravel.runner import RavelRunner

    ad, data = world
    runner = RavelRunner(ad, site=1, batch_size=16)
    inst = build_instance(data, _cfg(), runner.complete, ad.fingerprint())
    assert inst.attributes == ["Country", "Continent", "Language"]
    assert all(rate > 0.5 for rate in inst.known_rate.values())
    train_entities, test_entities = set(data.entities("train")), set(data.entities("test"))
    templates = {t.id: t for t in data.templates + data.wiki_templates}
    kinds = Counter()
    for e in inst.examples:
        assert not same_value(e.label, e.inv_label)
        assert e.label in data.gold(e.entity, e.attribute)
        assert e.inv_label in data.gold(e.source_entity, e.attribute)
        base_t, src_t = templates[e.template], templates[e.source_template]
        assert base_t.fill(e.entity) == e.input and src_t.fill(e.source_entity) == e.source_input
        assert e.input[slice(*e.entity_span)] == e.entity and e.source_input[slice(*e.source_span)] == e.source_entity
        pool = test_entities if e.split == "entity_test" else train_entities
        assert e.entity in pool and e.source_entity in pool
        assert base_t.split == ("test" if e.split == "context_test" else "train")
        assert src_t.split == base_t.split
        if e.source_kind == "same_attribute":
            assert src_t.attribute == e.attribute
        elif e.source_kind == "other_attribute":
            assert src_t.attribute not in (e.attribute, "Other")
        else:
            assert src_t.attribute == "Other"
        # the training target is the model's own tokens for the value, and they give it
        assert contains_value(ad.tokenizer.decode(e.label_tokens), producible(e.label, e.input))
        kinds[(e.split, e.source_kind)] += 1
    assert all(kinds[("train", k)] > 0 for k in ("same_attribute", "other_attribute", "other_context"))
    assert kinds[("entity_test", "same_attribute")] > 0 and kinds[("context_test", "same_attribute")] > 0

    again = build_instance(data, _cfg(), runner.complete, ad.fingerprint())
    assert again.examples == inst.examples  # seeded
    path = tmp_path / "inst.json"
    inst.save(path)
    assert RavelInstance.load(path) == inst


def _skewed_folder(tmp_path):
    """60 train entities: 45 share the Country value 'Alpha', the others each have their own."""
    entities = {f"E{i}": {"Country": "Alpha" if i < 45 else f"Other{i}"} for i in range(60)}
    prompts = {"Country": [f"T{j} %s ->" for j in range(3)]}
    return write_type(tmp_path, "city", entities, prompts, {p: "train" for p in prompts["Country"]},
                      {e: "train" for e in entities}, {"%s!": {"split": "train", "entity": None}})


def test_sources_are_drawn_with_flattened_labels(tmp_path):
    data = load_entity_type(_skewed_folder(tmp_path), "city")
    cfg = _cfg(source_entities=60, sources_per_base=8, test_templates=0)

    def complete(prompts, budgets=None):  # a table lookup: the outputs here are the data, not a model
        return [Completion(" " + data.gold(p.split()[1], "Country")[0], (1,), False) for p in prompts]  # stopped: a boundary

    inst = build_instance(data, cfg, complete)
    # candidate pool: 45/60 of (template, source entity) candidates carry 'Alpha'
    drawn = Counter(e.inv_label == "Alpha" for e in inst.split("train") if e.label != "Alpha" and e.source_kind == "same_attribute")
    share_alpha = drawn[True] / (drawn[True] + drawn[False])
    # weights 1/(20+count): Alpha candidates weigh 1/(20+135) each, others 1/(20+3) each
    n_alpha, n_other = 45 * 3, 15 * 3
    expected = n_alpha / (20 + n_alpha) / (n_alpha / (20 + n_alpha) + n_other / (20 + 3))
    assert expected < 0.35  # flattening moves Alpha from 75% of the candidates to about 31%
    assert abs(share_alpha - expected) < 0.06, (share_alpha, expected, drawn)
    assert not any(e.label == e.inv_label for e in inst.examples)


def test_plan_rejects_unknown_or_goldless_attributes(world):
    _, data = world
    with pytest.raises(ValueError, match="unknown attribute 'Timezone'"):
        plan(data, _cfg(attributes=["Timezone"]))
    assert len(pairs_to_generate(plan(data, _cfg(attributes=["Country"])))) == 2 * 16 + 1 * len(data.entities("train"))
