"""Write small RAVEL entity-type folders in the official five-file layout (for tests)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness_plugins.ravel.data import file_names


def write_type(folder: Path, entity_type: str, entities: dict[str, dict[str, Any]], prompts: dict[str, list[str]],
               prompt_split: dict[str, str], entity_split: dict[str, str], wiki: dict[str, dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    names = file_names(entity_type)
    docs = {
        "entity_attributes": entities,
        "attribute_to_prompts": prompts,
        "prompt_to_split": prompt_split,
        "entity_to_split": entity_split,
        "wiki_prompts": wiki,
    }
    for key, doc in docs.items():
        (folder / names[key]).write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    return folder


# The official attribute names of the five types (RAVEL README / released files).
OFFICIAL_ATTRIBUTES = {
    "city": ["Country", "Language", "Latitude", "Longitude", "Timezone", "Continent"],
    "nobel_prize_winner": ["Award Year", "Birth Year", "Country of Birth", "Field", "Gender"],
    "occupation": ["Duty", "Gender Bias", "Industry", "Work Location"],
    "physical_object": ["Category", "Color", "Size", "Texture"],
    "verb": ["Definition", "Past Tense", "Pronunciation", "Singular"],
}
