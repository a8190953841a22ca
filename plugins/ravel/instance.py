"""Build a model-specific RAVEL instance: the examples this model can be tested on.

1. Run the model greedily on template x entity for the chosen attributes; a pair is *known*
   when the output gives one of the gold values under the ``strict`` rule
   (:mod:`harness_plugins.ravel.matching`: the whole value within its own token budget, then a word
   boundary; values longer than the ``max_new_tokens`` cap cannot be checked and count as
   unknown). Only known pairs become base examples. Each prompt is generated only as far
   as its longest gold value's budget (greedy outputs are prefix-consistent, so the verdicts
   and label tokens are those of a run to the cap).
2. For every base template and split, draw source prompts of three kinds, as in the paper:
   the same attribute's templates, other attributes' templates, and Wikipedia "Other"
   contexts. Candidates are weighted by 1 / (20 + count(inv_label)) over the candidate pool
   so that the counterfactual label distribution is flattened; ``inv_label`` is the value
   the model gives for the *base* template filled with the *source* entity, so that pair must
   be known too.
3. Keep only examples with label != inv_label (otherwise Cause and Isolate coincide); each
   matching rule drops further examples it cannot tell apart when scoring.

Splits: ``train`` (train templates x train entities), ``entity_test`` (train templates x
held-out entities), ``context_test`` (held-out templates x train entities). Sources come
from the split's own templates and entities.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from harness_plugins.ravel.data import RavelData, Template
from harness_plugins.ravel.matching import contains_value, producible, same_value, strict_budget, strict_match

EVAL_SPLITS = ("entity_test", "context_test")
ALL_SPLITS = ("train",) + EVAL_SPLITS
SOURCE_KINDS = ("same_attribute", "other_attribute", "other_context")


@dataclass(frozen=True)
class Completion:
    """A greedy continuation: its text, token ids and whether it hit the token limit."""

    text: str
    tokens: tuple[int, ...]
    truncated: bool
    prefix_texts: tuple[str, ...] = ()  # decoded text of tokens[:1], tokens[:2], ...

    @property
    def ended(self) -> bool:
        """Generation stopped at an end-of-sequence token (not at the limit)."""
        return not self.truncated

    def cut(self, budget: int) -> tuple[str, tuple[int, ...], bool]:
        """(text, tokens, ended) as if generated with ``budget`` new tokens (greedy decoding
        is prefix-consistent, so cutting a longer output is the same)."""
        if len(self.tokens) > budget or (len(self.tokens) == budget and self.truncated):
            return (self.prefix_texts[budget - 1] if budget else ""), self.tokens[:budget], False
        return self.text, self.tokens, self.ended

    def value_tokens(self, value: str) -> tuple[int, ...]:
        """The shortest token prefix that spells the whole ``value`` (all tokens if none does):
        the training target, as RAVEL trains on the label's tokens only."""
        for k, text in enumerate(self.prefix_texts, start=1):
            if contains_value(text, value):
                return self.tokens[:k]
        return self.tokens


def knows(out: Completion, prompt: str, values: Sequence[str], n_tokens: Callable[[str, str], int], cap: int) -> str | None:
    """The first gold value ``out`` gives under the strict rule, or None (see module docstring)."""
    for v in values:
        want = producible(v, prompt)
        budget = strict_budget(n_tokens(prompt, want))
        if budget > cap:
            continue
        text, _, ended = out.cut(budget)
        if strict_match(text, want, ended):
            return v
    return None


def _tokens_needed(prompt: str, values: Sequence[str], n_tokens: Callable[[str, str], int], cap: int) -> int:
    """The longest strict budget :func:`knows` reads for this prompt (1 when no value fits the cap)."""
    fits = [b for b in (strict_budget(n_tokens(prompt, producible(v, prompt))) for v in values) if b <= cap]
    return max(fits, default=1)


@dataclass
class InstanceConfig:
    """Sizes and choices of an instance (all part of its cache key)."""

    attributes: list[str] | None = None  # None: every attribute with gold values
    max_new_tokens: int = 10  # cap on generated tokens (each value gets its own strict budget)
    train_entities: int = 64  # sampled from the entity split "train"
    test_entities: int = 32  # sampled from ``test_split`` (held-out entities)
    test_split: str = "test"  # "test" or "val" of the official split files
    train_templates: int = 6  # per attribute, from the template split "train"
    test_templates: int = 3  # per attribute, from ``test_split``
    wiki_templates: int = 8  # Wikipedia contexts per split
    source_templates: int = 4  # per other attribute, used as "other attribute" sources
    source_entities: int = 16  # entities tried per source template
    sources_per_base: int = 2  # draws per (base pair, source kind)
    max_examples_per_template: dict[str, int] = field(default_factory=lambda: {"train": 96, "entity_test": 24, "context_test": 24})
    seed: int = 0

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class RavelExample:
    split: str
    attribute: str  # the base template's attribute
    template: str  # base template id
    input: str
    entity: str
    entity_span: tuple[int, int]
    label: str  # the gold value the model gives for input
    label_tokens: tuple[int, ...]  # the model's own tokens for it (training target)
    source_input: str
    source_entity: str
    source_span: tuple[int, int]
    source_template: str
    source_attribute: str  # OTHER for Wikipedia contexts
    source_kind: str
    source_label: str | None  # gold value the model gives for source_input (None: not an attribute prompt or unknown)
    inv_label: str  # the value the model gives for the base template filled with source_entity
    inv_label_tokens: tuple[int, ...]


@dataclass
class RavelInstance:
    entity_type: str
    model_fingerprint: str
    config: InstanceConfig
    attributes: list[str]
    examples: list[RavelExample]
    known_rate: dict[str, float]  # attribute -> fraction of generated pairs the model knows
    templates: dict[str, dict] = field(default_factory=dict)  # id -> {text, attribute, split}

    def split(self, name: str) -> list[RavelExample]:
        return [e for e in self.examples if e.split == name]

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = asdict(self)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> RavelInstance:
        doc = json.loads(path.read_text(encoding="utf-8"))
        examples = [RavelExample(**{**e, "entity_span": tuple(e["entity_span"]), "source_span": tuple(e["source_span"]), "label_tokens": tuple(e["label_tokens"]), "inv_label_tokens": tuple(e["inv_label_tokens"])}) for e in doc.pop("examples")]
        config = InstanceConfig(**doc.pop("config"))
        return cls(examples=examples, config=config, **doc)

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for e in self.examples:
            out.setdefault(e.split, {}).setdefault(e.attribute, 0)
            out[e.split][e.attribute] += 1
        return out


@dataclass
class _Plan:
    attributes: list[str]
    train_entities: list[str]
    test_entities: list[str]
    base_templates: dict[str, list[Template]]  # "train" / "test" -> templates of the chosen attributes
    source_templates: dict[str, list[Template]]  # "train" / "test" -> other attributes' templates
    wiki: dict[str, list[Template]]  # split name -> Wikipedia contexts usable as sources


def _sample(rng: random.Random, items: Sequence, k: int | None) -> list:
    items = list(items)
    return items if k is None or k >= len(items) else rng.sample(items, k)


def plan(data: RavelData, cfg: InstanceConfig) -> _Plan:
    rng = random.Random(f"ravel-plan:{data.entity_type}:{cfg.seed}")
    with_gold = data.attributes_with_gold
    attributes = list(cfg.attributes) if cfg.attributes else with_gold
    for a in attributes:
        if a not in data.attributes:
            raise ValueError(f"RAVEL {data.entity_type}: unknown attribute {a!r} (has {data.attributes})")
        if a not in with_gold:
            raise ValueError(f"RAVEL {data.entity_type}: attribute {a!r} has prompts but no gold values; choose among {with_gold}")
    if cfg.test_split not in ("val", "test"):
        raise ValueError(f"test_split must be 'val' or 'test', got {cfg.test_split!r}")
    base, sources, wiki = {}, {}, {}
    for tsplit, k in (("train", cfg.train_templates), (cfg.test_split, cfg.test_templates)):
        key = "train" if tsplit == "train" else "test"
        base[key] = [t for a in attributes for t in _sample(rng, data.attribute_templates(a, tsplit), k)]
        sources[key] = [t for a in data.attributes if a not in attributes for t in _sample(rng, data.attribute_templates(a, tsplit), cfg.source_templates)]
    train_entities = _sample(rng, data.entities("train"), cfg.train_entities)
    test_entities = _sample(rng, data.entities(cfg.test_split), cfg.test_entities)
    # Wikipedia contexts tied to one entity are usable only where that entity is in the pool.
    for split, tsplit, pool in (("train", "train", train_entities), ("entity_test", "train", test_entities), ("context_test", cfg.test_split, train_entities)):
        members = set(pool)
        usable = [t for t in data.wiki_templates if t.split == tsplit and (t.entity is None or t.entity in members)]
        wiki[split] = _sample(rng, usable, cfg.wiki_templates)
    return _Plan(
        attributes=attributes,
        train_entities=train_entities,
        test_entities=test_entities,
        base_templates=base,
        source_templates=sources,
        wiki=wiki,
    )


def pairs_to_generate(p: _Plan) -> list[tuple[Template, str]]:
    """Every (template, entity) whose output the instance needs, in a stable order."""
    pairs = [(t, e) for t in p.base_templates["train"] for e in p.train_entities + p.test_entities]
    pairs += [(t, e) for t in p.base_templates["test"] for e in p.train_entities]
    return pairs


def _word_count(prompt: str, value: str) -> int:
    return len(value.split())


def build_instance(data: RavelData, cfg: InstanceConfig, complete: Callable[[list[str], list[int]], list[Completion]], fingerprint: str = "",
                   n_tokens: Callable[[str, str], int] = _word_count) -> RavelInstance:
    """Generate, keep known pairs, sample sources (see the module docstring).

    ``n_tokens(prompt, value)``: how many tokens ``value`` takes as a continuation of ``prompt``
    (the runner's tokenizer; a word count for tests without one)."""
    p = plan(data, cfg)
    pairs = pairs_to_generate(p)
    need = [_tokens_needed(t.fill(e), data.gold(e, t.attribute), n_tokens, cfg.max_new_tokens) for t, e in pairs]
    outputs = complete([t.fill(e) for t, e in pairs], need) if pairs else []
    known: dict[tuple[str, str], tuple[str, Completion]] = {}
    tried: Counter = Counter()
    hits: Counter = Counter()
    for (t, e), out in zip(pairs, outputs):
        tried[t.attribute] += 1
        value = knows(out, t.fill(e), data.gold(e, t.attribute), n_tokens, cfg.max_new_tokens)
        if value is not None:
            known[(t.id, e)] = (value, out)
            hits[t.attribute] += 1
    rng = random.Random(f"ravel-sources:{data.entity_type}:{cfg.seed}")
    examples: list[RavelExample] = []
    layout = {
        "train": ("train", p.train_entities),
        "entity_test": ("train", p.test_entities),
        "context_test": ("test", p.train_entities),
    }
    for split, (tkey, entities) in layout.items():
        for t in p.base_templates[tkey]:
            examples.extend(_examples_for_template(split, t, entities, p, tkey, known, cfg, rng))
    templates = {t.id: {"text": t.text, "attribute": t.attribute, "split": t.split} for group in (p.base_templates, p.source_templates, p.wiki) for ts in group.values() for t in ts}
    return RavelInstance(
        entity_type=data.entity_type,
        model_fingerprint=fingerprint,
        config=cfg,
        attributes=p.attributes,
        examples=examples,
        known_rate={a: hits[a] / tried[a] for a in p.attributes if tried[a]},
        templates=templates,
    )


def _examples_for_template(split: str, t: Template, entities: list[str], p: _Plan, tkey: str, known: dict, cfg: InstanceConfig, rng: random.Random) -> list[RavelExample]:
    bases = [(e, known[(t.id, e)]) for e in entities if (t.id, e) in known]
    if not bases:
        return []
    kinds = {
        "same_attribute": [s for s in p.base_templates[tkey] if s.attribute == t.attribute],
        "other_attribute": [s for s in p.base_templates[tkey] if s.attribute != t.attribute] + p.source_templates[tkey],
        "other_context": p.wiki[split],
    }
    out: list[RavelExample] = []
    for kind, source_templates in kinds.items():
        candidates = []
        for s in source_templates:
            if s.entity is not None:
                choices = [s.entity] if s.entity in entities else []
            else:
                choices = _sample(rng, entities, cfg.source_entities)
            candidates.extend((s, e2) for e2 in choices if (t.id, e2) in known)
        if not candidates:
            continue
        inv = [known[(t.id, e2)][0] for _, e2 in candidates]
        counts = Counter(inv)
        weights = [1.0 / (20 + counts[v]) for v in inv]
        for entity, (label, out_base) in bases:
            for s, e2 in rng.choices(candidates, weights=weights, k=cfg.sources_per_base):
                inv_label, out_inv = known[(t.id, e2)]
                if same_value(label, inv_label):
                    continue
                src = known.get((s.id, e2))
                out.append(
                    RavelExample(
                        split=split,
                        attribute=t.attribute,
                        template=t.id,
                        input=t.fill(entity),
                        entity=entity,
                        entity_span=t.entity_span(entity),
                        label=label,
                        label_tokens=out_base.value_tokens(producible(label, t.fill(entity))),
                        source_input=s.fill(e2),
                        source_entity=e2,
                        source_span=s.entity_span(e2),
                        source_template=s.id,
                        source_attribute=s.attribute,
                        source_kind=kind,
                        source_label=src[0] if src else None,
                        inv_label=inv_label,
                        inv_label_tokens=out_inv.value_tokens(producible(inv_label, t.fill(e2))),
                    )
                )
    cap = cfg.max_examples_per_template.get(split)
    if cap is not None and len(out) > cap:
        out = rng.sample(out, cap)
    return out


def cache_path(cache_dir: Path, data: RavelData, cfg: InstanceConfig, fingerprint: str, data_key: str) -> Path:
    key = hashlib.sha256(f"{fingerprint}|{data_key}|{cfg.key()}".encode()).hexdigest()[:20]
    return Path(cache_dir) / "ravel" / f"instance_{data.entity_type}_{key}.json"


def data_key(folder: Path, entity_type: str) -> str:
    """A hash of the five files' contents (a changed file invalidates cached instances)."""
    from harness_plugins.ravel.data import file_names

    h = hashlib.sha256()
    for name in sorted(file_names(entity_type).values()):
        h.update(name.encode())
        h.update((Path(folder) / name).read_bytes())
    return h.hexdigest()[:16]

