"""Read RAVEL's official per-entity-type files into one typed table.

Per entity type ``T`` (city, nobel_prize_winner, occupation, physical_object, verb, or any
other name) a folder holds five JSON files::

    ravel_T_entity_attributes.json     {entity: {attribute: value}}
    ravel_T_attribute_to_prompts.json  {attribute: [template with one %s]}
    ravel_T_prompt_to_split.json       {template: "train" | "val" | "test"}
    ravel_T_entity_to_split.json       {entity: "train" | "val" | "test"}
    wikipedia_T_entity_prompts.json    {template: {"split": ..., "entity": name or null}}

The real files have quirks this loader tolerates (and counts in :attr:`RavelData.notes`):
empty or null values (no gold value for that entity), attributes that have prompts but no
gold value for any entity, numbers instead of strings, lists of acceptable values,
templates or entities missing from a split file, Wikipedia prompts naming an entity that is
not in the entity table. A file that is missing, is not JSON, or has the wrong shape raises
:class:`RavelDataError` naming the file and the offending key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PLACEHOLDER = "%s"
ENTITY_TYPES = ("city", "nobel_prize_winner", "occupation", "physical_object", "verb")
SPLITS = ("train", "val", "test")
OTHER = "Other"  # the pseudo-attribute of Wikipedia contexts (as in the paper)


class RavelDataError(ValueError):
    """A RAVEL data file is missing or malformed; the message names the file and key."""


@dataclass(frozen=True)
class Template:
    """One prompt template of an attribute (or a Wikipedia "Other" context)."""

    text: str  # contains exactly one %s
    attribute: str  # OTHER for Wikipedia contexts
    split: str
    entity: str | None = None  # Wikipedia contexts may be tied to one entity

    @property
    def id(self) -> str:
        import hashlib

        return hashlib.sha1(f"{self.attribute}\x00{self.text}".encode()).hexdigest()[:10]

    def fill(self, entity: str) -> str:
        """The template with ``entity`` in place of its placeholder (other ``%`` signs are kept)."""
        head, _, tail = self.text.partition(PLACEHOLDER)
        return head + entity + tail

    def entity_span(self, entity: str) -> tuple[int, int]:
        """Character span [start, end) of ``entity`` inside :meth:`fill`'s text."""
        start = self.text.index(PLACEHOLDER)
        return start, start + len(entity)


@dataclass
class RavelData:
    """Everything RAVEL knows about one entity type."""

    entity_type: str
    values: dict[str, dict[str, tuple[str, ...]]]  # entity -> attribute -> acceptable gold values
    entity_split: dict[str, str]
    templates: list[Template]  # attribute templates with a split
    wiki_templates: list[Template]  # "Other" contexts
    attributes: list[str]  # every attribute that has prompts (order of the prompt file)
    notes: dict[str, int] = field(default_factory=dict)  # quirk -> count, for the log

    def gold(self, entity: str, attribute: str) -> tuple[str, ...]:
        """Acceptable values of ``attribute`` for ``entity`` (empty: no gold value)."""
        return self.values.get(entity, {}).get(attribute, ())

    @property
    def attributes_with_gold(self) -> list[str]:
        return [a for a in self.attributes if any(a in v for v in self.values.values())]

    def entities(self, split: str) -> list[str]:
        return [e for e, s in self.entity_split.items() if s == split and e in self.values]

    def attribute_templates(self, attribute: str, split: str | None = None) -> list[Template]:
        return [t for t in self.templates if t.attribute == attribute and (split is None or t.split == split)]

    def summary(self) -> dict[str, Any]:
        return {
            "entity_type": self.entity_type,
            "entities": {s: len(self.entities(s)) for s in SPLITS},
            "templates": {a: len(self.attribute_templates(a)) for a in self.attributes},
            "wiki_templates": len(self.wiki_templates),
            "attributes_with_gold": self.attributes_with_gold,
            "notes": dict(self.notes),
        }


def file_names(entity_type: str) -> dict[str, str]:
    return {
        "entity_attributes": f"ravel_{entity_type}_entity_attributes.json",
        "attribute_to_prompts": f"ravel_{entity_type}_attribute_to_prompts.json",
        "prompt_to_split": f"ravel_{entity_type}_prompt_to_split.json",
        "entity_to_split": f"ravel_{entity_type}_entity_to_split.json",
        "wiki_prompts": f"wikipedia_{entity_type}_entity_prompts.json",
    }


def _read_json(path: Path) -> Any:
    if not path.exists():
        raise RavelDataError(f"{path}: file not found (RAVEL needs the five per-type files; see the RAVEL page of the docs, docs/plugins/ravel.md)")
    try:
        from harness.textio import read_utf8

        return json.loads(read_utf8(path, RavelDataError))
    except json.JSONDecodeError as err:
        raise RavelDataError(f"{path}:{err.lineno}:{err.colno}: not valid JSON ({err.msg})") from err


def _expect_mapping(data: Any, path: Path, what: str) -> dict:
    if not isinstance(data, dict):
        raise RavelDataError(f"{path}: expected a JSON object mapping {what}, got {type(data).__name__}")
    return data


def _gold_values(raw: Any, path: Path, entity: str, attribute: str) -> tuple[str, ...]:
    """Normalise one raw value to a tuple of acceptable strings (empty = no gold)."""
    if raw is None:
        return ()
    if isinstance(raw, bool):
        raise RavelDataError(f"{path}: entity {entity!r}, attribute {attribute!r}: expected a string value, got a boolean")
    if isinstance(raw, (int, float)):
        return (str(raw),)
    if isinstance(raw, str):
        return (raw.strip(),) if raw.strip() else ()
    if isinstance(raw, list):
        out: list[str] = []
        for item in raw:
            out.extend(_gold_values(item, path, entity, attribute))
        return tuple(dict.fromkeys(out))
    raise RavelDataError(f"{path}: entity {entity!r}, attribute {attribute!r}: expected a string, number, list or null, got {type(raw).__name__}")


def _check_template(text: Any, path: Path, where: str) -> str:
    if not isinstance(text, str):
        raise RavelDataError(f"{path}: {where}: expected a template string, got {type(text).__name__}")
    if text.count(PLACEHOLDER) != 1:
        raise RavelDataError(f"{path}: {where}: template {text!r} must contain exactly one '%s' placeholder")
    return text


def _split_value(raw: Any, path: Path, key: str) -> str:
    if raw not in SPLITS:
        raise RavelDataError(f"{path}: {key!r}: split must be one of {list(SPLITS)}, got {raw!r}")
    return raw


def load_entity_type(folder: str | Path, entity_type: str) -> RavelData:
    """Load the five files of ``entity_type`` from ``folder``."""
    folder = Path(folder)
    names = {k: folder / v for k, v in file_names(entity_type).items()}
    notes: dict[str, int] = {}

    def note(key: str, n: int = 1) -> None:
        notes[key] = notes.get(key, 0) + n

    # Entities and their gold values.
    path = names["entity_attributes"]
    raw_entities = _expect_mapping(_read_json(path), path, "entity names to {attribute: value}")
    values: dict[str, dict[str, tuple[str, ...]]] = {}
    for entity, attrs in raw_entities.items():
        if not isinstance(attrs, dict):
            raise RavelDataError(f"{path}: entity {entity!r}: expected an object of attribute values, got {type(attrs).__name__}")
        kept = {}
        for attribute, raw in attrs.items():
            gold = _gold_values(raw, path, entity, attribute)
            if gold:
                kept[attribute] = gold
            else:
                note("empty_values")
        values[str(entity)] = kept

    # Attribute templates and their splits.
    path = names["attribute_to_prompts"]
    raw_prompts = _expect_mapping(_read_json(path), path, "attribute names to lists of templates")
    split_path = names["prompt_to_split"]
    prompt_split = _expect_mapping(_read_json(split_path), split_path, "templates to splits")
    templates: list[Template] = []
    attributes: list[str] = []
    for attribute, texts in raw_prompts.items():
        if not isinstance(texts, list):
            raise RavelDataError(f"{path}: attribute {attribute!r}: expected a list of templates, got {type(texts).__name__}")
        attributes.append(attribute)
        seen: set[str] = set()
        for i, text in enumerate(texts):
            text = _check_template(text, path, f"attribute {attribute!r} template #{i}")
            if text in seen:
                note("duplicate_templates")
                continue
            seen.add(text)
            if text not in prompt_split:
                note("templates_without_split")
                continue
            templates.append(Template(text, attribute, _split_value(prompt_split[text], split_path, text)))
        if not any(attribute in v for v in values.values()):
            note("attributes_without_gold")

    # Entity splits.
    path = names["entity_to_split"]
    raw_split = _expect_mapping(_read_json(path), path, "entity names to splits")
    entity_split = {str(e): _split_value(s, path, e) for e, s in raw_split.items()}
    missing = [e for e in values if e not in entity_split]
    if missing:
        note("entities_without_split", len(missing))

    # Wikipedia "Other" contexts.
    path = names["wiki_prompts"]
    raw_wiki = _expect_mapping(_read_json(path), path, "templates to {split, entity}")
    wiki: list[Template] = []
    for text, meta in raw_wiki.items():
        text = _check_template(text, path, f"template {text[:40]!r}")
        if not isinstance(meta, dict) or "split" not in meta:
            raise RavelDataError(f"{path}: template {text[:60]!r}: expected an object with 'split' and 'entity'")
        entity = meta.get("entity")
        if entity is not None and not isinstance(entity, str):
            raise RavelDataError(f"{path}: template {text[:60]!r}: 'entity' must be a string or null, got {type(entity).__name__}")
        if entity is not None and entity not in values:
            note("wiki_unknown_entities")
            continue
        wiki.append(Template(text, OTHER, _split_value(meta["split"], path, text), entity or None))

    return RavelData(entity_type, values, entity_split, templates, wiki, attributes, notes)


def available_types(folder: str | Path) -> list[str]:
    """Entity types whose entity-attribute file is present in ``folder``."""
    folder = Path(folder)
    found = sorted(p.name[len("ravel_") : -len("_entity_attributes.json")] for p in folder.glob("ravel_*_entity_attributes.json"))
    return found
