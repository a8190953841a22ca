"""Base/source pair records (the published format) and seeded pair sampling from templates.

A record holds two aligned span lists and their label types and continuations::

    {"base": ["<|endoftext|>The", " managers", " that", ...], "src": [...],
     "base_type": "plural", "src_type": "singular", "base_label": " are", "src_label": " has",
     "task": "agr_sv_num_subj-relc"}

Records are read from a JSON list, a JSONL file, or the hub dataset ``aryaman/causalgym``
(``hf://aryaman/causalgym``, needs the ``datasets`` package and network or a local hub cache).
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from harness_plugins.causalgym.templates import TaskTemplate, group_of

HUB_ID = "aryaman/causalgym"
RECORD_FIELDS = ("base", "src", "base_type", "src_type", "base_label", "src_label", "task")
#: Seeds of the published splits (Python ``random``): train 42, dev 420, test 1.
SPLIT_SEEDS = {"train": 42, "dev": 420, "test": 1}


class PairDataError(ValueError):
    """Pair records are malformed; the message names the file, record and field."""


@dataclass(frozen=True)
class PairRecord:
    base: tuple[str, ...]
    src: tuple[str, ...]
    base_type: str
    src_type: str
    base_label: str
    src_label: str
    task: str

    @property
    def base_text(self) -> str:
        return "".join(self.base)

    @property
    def src_text(self) -> str:
        return "".join(self.src)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["base"], d["src"] = list(self.base), list(self.src)
        return d


def parse_record(rec: Any, where: str) -> PairRecord:
    if not isinstance(rec, dict):
        raise PairDataError(f"{where}: expected an object with fields {list(RECORD_FIELDS)}, got {type(rec).__name__}")
    missing = [f for f in RECORD_FIELDS if f not in rec]
    if missing:
        raise PairDataError(f"{where}: missing field(s) {missing}")
    base, src = rec["base"], rec["src"]
    for name, spans in (("base", base), ("src", src)):
        if not isinstance(spans, (list, tuple)) or not spans or not all(isinstance(s, str) for s in spans):
            raise PairDataError(f"{where}: field {name!r} must be a non-empty list of text spans")
    if len(base) != len(src):
        raise PairDataError(f"{where}: 'base' has {len(base)} spans but 'src' has {len(src)}; spans must be aligned")
    for name in ("base_type", "src_type", "base_label", "src_label", "task"):
        if not isinstance(rec[name], str) or not rec[name]:
            raise PairDataError(f"{where}: field {name!r} must be a non-empty string")
    if rec["base_type"] == rec["src_type"]:
        raise PairDataError(f"{where}: base_type and src_type are both {rec['base_type']!r}; a pair needs two types")
    return PairRecord(tuple(base), tuple(src), rec["base_type"], rec["src_type"], rec["base_label"], rec["src_label"], rec["task"])


def load_pairs(source: str | Path, split: str = "dev", tasks: Iterable[str] | None = None) -> list[PairRecord]:
    """Read pair records from a file, a folder holding ``causalgym_<split>.json``, or ``hf://aryaman/causalgym``."""
    wanted = set(tasks) if tasks is not None else None
    text = str(source)
    if text.startswith("hf://") or text == HUB_ID:
        raw, where = _hub_records(text.removeprefix("hf://"), split), f"hf://{HUB_ID}[{split}]"
    else:
        path = Path(source)
        if path.is_dir():
            path = path / f"causalgym_{split}.json"
        raw, where = _file_records(path), str(path)
    out = []
    for i, rec in enumerate(raw):
        if wanted is not None and isinstance(rec, dict) and rec.get("task") not in wanted:
            continue
        out.append(parse_record(rec, f"{where}: record {i}"))
    if wanted is not None:
        absent = wanted - {r.task for r in out}
        if absent:
            raise PairDataError(f"{where}: no pairs for task(s) {sorted(absent)}")
    return out


def _file_records(path: Path) -> list[Any]:
    if not path.exists():
        raise PairDataError(f"{path}: pair file not found")
    from harness.textio import read_utf8

    text = read_utf8(path, PairDataError)
    if path.suffix == ".jsonl":
        recs = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    recs.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise PairDataError(f"{path}:{n}: not valid JSON ({err.msg})") from None
        return recs
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise PairDataError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None
    if not isinstance(data, list):
        raise PairDataError(f"{path}: expected a JSON list of pair records")
    return data


def _hub_records(repo: str, split: str) -> list[Any]:
    try:
        import datasets
    except ImportError as err:  # pragma: no cover - datasets is installed here
        raise PairDataError(f"loading {repo!r} from the hub needs the 'datasets' package") from err
    try:
        ds = datasets.load_dataset(repo, split=split)
    except Exception as err:  # offline, unknown split, ...
        raise PairDataError(f"cannot load hub dataset {repo!r} split {split!r}: {err}") from err
    return [dict(row) for row in ds]


# --- Sampling from templates ----------------------------------------------------------------


def sample_pair(template: TaskTemplate, rng: random.Random) -> PairRecord:
    """One pair: two different types, shared non-label variables, per-type label fillers."""
    base_type = rng.choice(template.types)
    src_type = rng.choice([t for t in template.types if t != base_type])
    used = [p.var for p in template.pieces if p.var is not None]
    shared: dict[str, str] = {}
    group_index: dict[str, int] = {}
    for var in used:
        if var in template.label_vars:
            continue
        values = template.variables[var]
        group = group_of(var)
        if "." in var:
            if group not in group_index:  # one index for the whole dotted group
                size = min(len(template.variables[v]) for v in used if group_of(v) == group and "." in v)
                group_index[group] = rng.randrange(size)
            shared[var] = values[group_index[group]]
        else:
            shared[var] = rng.choice(values)
    base_vals, src_vals = dict(shared), dict(shared)
    for var in template.label_vars:
        base_vals[var] = rng.choice(template.variables[var][base_type])
        src_vals[var] = rng.choice(template.variables[var][src_type])
    return PairRecord(
        base=tuple(template.fill(base_vals)), src=tuple(template.fill(src_vals)),
        base_type=base_type, src_type=src_type,
        base_label=rng.choice(template.labels[base_type]), src_label=rng.choice(template.labels[src_type]),
        task=template.name,
    )


def sample_pairs(template: TaskTemplate, n: int, seed: int, exclude_bases: set[str] | None = None, max_tries: int = 200) -> list[PairRecord]:
    """``n`` seeded pairs whose base sentences avoid ``exclude_bases``."""
    rng = random.Random(f"{seed}:{template.name}")
    exclude = exclude_bases or set()
    out: list[PairRecord] = []
    tries = 0
    while len(out) < n:
        pair = sample_pair(template, rng)
        if pair.base_text in exclude:
            tries += 1
            if tries > max_tries * max(n, 1):
                raise PairDataError(
                    f"task {template.name!r}: could only sample {len(out)} of {n} pairs with bases unseen in other "
                    f"splits; the template has too few distinct sentences for these split sizes"
                )
            continue
        out.append(pair)
    return out


def make_splits(template: TaskTemplate, sizes: dict[str, int], seed: int = 0) -> dict[str, list[PairRecord]]:
    """Train/dev/test (in ``sizes`` order) with pairwise disjoint base sentences, seeded per split."""
    splits: dict[str, list[PairRecord]] = {}
    used: set[str] = set()
    for i, (split, n) in enumerate(sizes.items()):
        pairs = sample_pairs(template, n, seed=seed * 1000 + SPLIT_SEEDS.get(split, 100 + i), exclude_bases=used)
        splits[split] = pairs
        used |= {p.base_text for p in pairs}
    return splits


def group_by_task(pairs: Sequence[PairRecord]) -> dict[str, list[PairRecord]]:
    out: dict[str, list[PairRecord]] = {}
    for p in pairs:
        out.setdefault(p.task, []).append(p)
    return out
