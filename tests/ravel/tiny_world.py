"""A RAVEL folder whose gold values are what a tiny random model says (so it 'knows' every pair)."""

from __future__ import annotations

from pathlib import Path

from harness.models.hf import HFAdapter
from harness.testing import tiny_model, tokenizer
from harness_plugins.ravel.data import Template
from ravel_files import write_type

ENTITIES = ["Paris", "Rome", "London", "Berlin", "Madrid", "Boston", "Chicago", "Dublin", "Vienna", "Lima",
            "Rio de Janeiro", "Tokyo", "Cairo", "Lagos", "Oslo", "Prague"]
PROMPTS = {
    "Country": [("%s is a city in the country of", "train"), ("city: %s, country:", "train"), ("The nation of %s is", "test")],
    "Continent": [("%s lies on the continent of", "train"), ("city: %s, continent:", "train"), ("Continent of %s:", "test")],
    "Language": [("In %s people speak", "train"), ("city: %s, language:", "train"), ("The tongue of %s is", "test")],
}
WIKI = {
    "Yesterday in %s the weather was": {"split": "train", "entity": None},
    "The mayor of %s said that": {"split": "train", "entity": None},
    "Old maps of %s show": {"split": "train", "entity": "Paris"},
    "A museum in %s opened": {"split": "test", "entity": None},
}


def tiny_adapter() -> HFAdapter:
    return HFAdapter.from_model(tiny_model("llama", 0, initializer_range=0.2), tokenizer(), name="tiny-llama-ravel")


def first_word(text: str) -> str:
    words = text.split()
    return words[0] if words else ""


def write_tiny_world(folder: Path, adapter: HFAdapter) -> Path:
    from harness_plugins.ravel.runner import RavelRunner

    runner = RavelRunner(adapter, site=1, batch_size=16)
    values: dict[str, dict[str, list[str]]] = {e: {} for e in ENTITIES}
    for attr, temps in PROMPTS.items():
        for text, _ in temps:
            t = Template(text, attr, "train")
            outs = runner.complete([t.fill(e) for e in ENTITIES])
            for e, o in zip(ENTITIES, outs):
                w = first_word(o.text)
                if w:
                    values[e].setdefault(attr, []).append(w)
    entity_split = {e: ("test" if i % 3 == 2 else "train") for i, e in enumerate(ENTITIES)}
    entity_split["Paris"] = "train"
    prompts = {a: [t for t, _ in ts] for a, ts in PROMPTS.items()}
    prompt_split = {t: s for ts in PROMPTS.values() for t, s in ts}
    return write_type(folder, "city", values, prompts, prompt_split, entity_split, WIKI)
