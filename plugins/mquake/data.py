"""MQuAKE cases: typed records, a validating loader, and edit batches of size k.

The MQuAKE JSON schema (CF-3k, CF-3k-v2, CF, T and the 4-hop "hard" set) is a list of cases::

    {"case_id", "requested_rewrite": [{"prompt" (with "{}"), "relation_id", "subject", "question",
      "target_new": {"str", "id"}, "target_true": {"str", "id"}}, ...],
     "questions": [3 paraphrases], "answer", "answer_alias", "new_answer", "new_answer_alias",
     "single_hops"/"new_single_hops": [{"question", "cloze", "answer", "answer_alias"}],
     "orig": {...triples...}, "answer_extended" (MQuAKE-T only)}

Bad input raises :class:`MQuAKEDataError` naming the file, the case and the field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

HUB_PREFIX = "hf://"


class MQuAKEDataError(ValueError):
    """A data file does not follow the MQuAKE schema; the message says where and what was expected."""


@dataclass(frozen=True)
class Edit:
    """One requested rewrite ``(subject, relation, target_true -> target_new)``."""

    prompt: str  # cloze template with one "{}" for the subject
    subject: str
    relation_id: str
    target_new: str
    target_true: str
    question: str = ""
    target_new_id: str = ""
    target_true_id: str = ""

    @property
    def cloze(self) -> str:
        """The template filled with the subject, e.g. "The capital of France is"."""
        return self.prompt.replace("{}", self.subject, 1)

    @property
    def sentence(self) -> str:
        """The edit as a memory sentence: ``prompt.format(subject) + " " + target_new``."""
        return f"{self.cloze} {self.target_new}"


@dataclass(frozen=True)
class Hop:
    """One single-hop fact of a chain, with its question, cloze and accepted answers."""

    question: str
    cloze: str
    answer: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Case:
    case_id: str
    edits: tuple[Edit, ...]
    questions: tuple[str, ...]
    answer: str
    answer_aliases: tuple[str, ...]
    new_answer: str
    new_answer_aliases: tuple[str, ...]
    single_hops: tuple[Hop, ...]
    new_single_hops: tuple[Hop, ...]
    answer_extended: tuple[str, ...] = ()  # MQuAKE-T: further accepted unedited answers
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def n_hops(self) -> int:
        return len(self.new_single_hops)

    def original_answers(self) -> tuple[str, ...]:
        """Every accepted answer of the unedited chain (``answer``, aliases, ``answer_extended``)."""
        return (self.answer, *self.answer_aliases, *self.answer_extended)

    def new_answers(self) -> tuple[str, ...]:
        return (self.new_answer, *self.new_answer_aliases)


# --- Validation helpers ---------------------------------------------------------------------


class _Where:
    """Builds error messages that name the file, the case and the field path."""

    def __init__(self, source: str, index: int, case_id: Any):
        self.prefix = f"{source}: case #{index} (case_id={case_id!r})"

    def error(self, path: str, expected: str, got: Any) -> MQuAKEDataError:
        shown = type(got).__name__ if not isinstance(got, (str, int, float)) else repr(got)[:60]
        return MQuAKEDataError(f"{self.prefix}: field {path!r}: expected {expected}, got {shown}")

    def get(self, obj: dict[str, Any], key: str, path: str) -> Any:
        if key not in obj:
            raise MQuAKEDataError(f"{self.prefix}: missing field {path!r}")
        return obj[key]

    def string(self, obj: dict[str, Any], key: str, path: str, *, optional: bool = False) -> str:
        if optional and key not in obj:
            return ""
        value = self.get(obj, key, path)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and key == "id":
            return str(value)
        if not isinstance(value, str):
            raise self.error(path, "a string", value)
        return value

    def strings(self, obj: dict[str, Any], key: str, path: str, *, optional: bool = False) -> tuple[str, ...]:
        if optional and key not in obj:
            return ()
        value = self.get(obj, key, path)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(path, "a list of strings", value)
        return tuple(value)

    def mapping(self, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(path, "an object", value)
        return value

    def records(self, obj: dict[str, Any], key: str, path: str) -> list[dict[str, Any]]:
        value = self.get(obj, key, path)
        if not isinstance(value, list) or not value:
            raise self.error(path, "a non-empty list of objects", value)
        return [self.mapping(v, f"{path}[{i}]") for i, v in enumerate(value)]


def _parse_edit(w: _Where, raw: dict[str, Any], path: str) -> Edit:
    prompt = w.string(raw, "prompt", f"{path}.prompt")
    if prompt.count("{}") != 1:
        raise w.error(f"{path}.prompt", 'a template with exactly one "{}" for the subject', prompt)
    new = w.mapping(w.get(raw, "target_new", f"{path}.target_new"), f"{path}.target_new")
    true = w.mapping(w.get(raw, "target_true", f"{path}.target_true"), f"{path}.target_true")
    return Edit(
        prompt=prompt,
        subject=w.string(raw, "subject", f"{path}.subject"),
        relation_id=w.string(raw, "relation_id", f"{path}.relation_id", optional=True),
        target_new=w.string(new, "str", f"{path}.target_new.str"),
        target_true=w.string(true, "str", f"{path}.target_true.str"),
        question=w.string(raw, "question", f"{path}.question", optional=True),
        target_new_id=w.string(new, "id", f"{path}.target_new.id", optional=True),
        target_true_id=w.string(true, "id", f"{path}.target_true.id", optional=True),
    )


def _parse_hop(w: _Where, raw: dict[str, Any], path: str) -> Hop:
    return Hop(
        question=w.string(raw, "question", f"{path}.question"),
        cloze=w.string(raw, "cloze", f"{path}.cloze", optional=True),
        answer=w.string(raw, "answer", f"{path}.answer"),
        aliases=w.strings(raw, "answer_alias", f"{path}.answer_alias", optional=True),
    )


def parse_case(raw: Any, index: int = 0, source: str = "<memory>") -> Case:
    """Validate and convert one case dict; raise :class:`MQuAKEDataError` on the first problem."""
    if not isinstance(raw, dict):
        raise MQuAKEDataError(f"{source}: case #{index}: expected an object, got {type(raw).__name__}")
    w = _Where(source, index, raw.get("case_id"))
    case_id = w.get(raw, "case_id", "case_id")
    if not isinstance(case_id, (int, str)) or isinstance(case_id, bool):
        raise w.error("case_id", "an integer or string", case_id)
    edits = tuple(_parse_edit(w, r, f"requested_rewrite[{i}]") for i, r in enumerate(w.records(raw, "requested_rewrite", "requested_rewrite")))
    questions = w.strings(raw, "questions", "questions")
    if not questions:
        raise w.error("questions", "a non-empty list of questions", questions)
    new_hops = tuple(_parse_hop(w, h, f"new_single_hops[{i}]") for i, h in enumerate(w.records(raw, "new_single_hops", "new_single_hops")))
    hops = tuple(_parse_hop(w, h, f"single_hops[{i}]") for i, h in enumerate(w.records(raw, "single_hops", "single_hops")))
    if len(hops) != len(new_hops):
        raise w.error("new_single_hops", f"as many hops as single_hops ({len(hops)})", new_hops)
    extended = raw.get("answer_extended", [])
    if isinstance(extended, str):
        extended = [extended]
    if not isinstance(extended, list) or not all(isinstance(v, str) for v in extended):
        raise w.error("answer_extended", "a list of strings", extended)
    return Case(
        case_id=str(case_id),
        edits=edits,
        questions=questions,
        answer=w.string(raw, "answer", "answer"),
        answer_aliases=w.strings(raw, "answer_alias", "answer_alias", optional=True),
        new_answer=w.string(raw, "new_answer", "new_answer"),
        new_answer_aliases=w.strings(raw, "new_answer_alias", "new_answer_alias", optional=True),
        single_hops=hops,
        new_single_hops=new_hops,
        answer_extended=tuple(extended),
        raw=raw,
    )


def parse_cases(data: Any, source: str = "<memory>") -> list[Case]:
    if not isinstance(data, list):
        raise MQuAKEDataError(f"{source}: expected a JSON list of MQuAKE cases, got {type(data).__name__}")
    cases = [parse_case(raw, i, source) for i, raw in enumerate(data)]
    seen: dict[str, int] = {}
    for i, case in enumerate(cases):
        if case.case_id in seen:
            raise MQuAKEDataError(f"{source}: case #{i}: duplicate case_id {case.case_id!r} (first at case #{seen[case.case_id]})")
        seen[case.case_id] = i
    return cases


# --- Locating and reading files --------------------------------------------------------------


def project_root() -> Path:
    return Path(__file__).resolve().parent.parent.parent


def builtin_data_dir() -> Path:
    from harness_tasks import data_dir

    return data_dir("mquake")


def resolve_path(spec: str | Path) -> Path:
    """A local file: absolute, relative to the working directory, or to the project root."""
    path = Path(spec).expanduser()
    candidates = [path] if path.is_absolute() else [Path.cwd() / path, project_root() / path, builtin_data_dir() / path]
    for cand in candidates:
        if cand.is_file():
            return cand
    tried = ", ".join(str(c) for c in candidates)
    raise MQuAKEDataError(f"MQuAKE data file {str(spec)!r} not found (tried {tried})")


def fetch_hub_file(spec: str) -> Path:
    """Download ``hf://OWNER/REPO/FILE.json`` from a Hugging Face *dataset* repository."""
    rest = spec[len(HUB_PREFIX):]
    parts = rest.split("/", 2)
    if len(parts) != 3 or not all(parts):
        raise MQuAKEDataError(f"hub data reference {spec!r} must look like 'hf://OWNER/REPO/PATH/TO/FILE.json'")
    repo_id, filename = f"{parts[0]}/{parts[1]}", parts[2]
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as err:  # pragma: no cover - huggingface_hub ships with transformers
        raise MQuAKEDataError(f"{spec}: loading from the hub needs huggingface_hub ({err})") from err
    try:
        return Path(hf_hub_download(repo_id=repo_id, filename=filename, repo_type="dataset"))
    except Exception as err:  # noqa: BLE001 - offline mode, missing repo or file
        raise MQuAKEDataError(f"{spec}: could not fetch {filename!r} from dataset repo {repo_id!r}: {type(err).__name__}: {err}") from err


def load_cases(spec: str | Path) -> list[Case]:
    """Read MQuAKE cases from a JSON file path or an ``hf://OWNER/REPO/FILE.json`` hub reference."""
    path = fetch_hub_file(str(spec)) if str(spec).startswith(HUB_PREFIX) else resolve_path(spec)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise MQuAKEDataError(f"{path}:{err.lineno}:{err.colno}: invalid JSON: {err.msg}") from err
    except UnicodeDecodeError as err:
        raise MQuAKEDataError(f"{path}: not UTF-8 text ({err})") from err
    return parse_cases(data, str(path))


# --- Edit batches --------------------------------------------------------------------------


def parse_k(k: int | str) -> int | None:
    """``k`` as an int >= 1, or ``None`` for "all"."""
    if isinstance(k, str) and k.strip().lower() == "all":
        return None
    if isinstance(k, bool) or not isinstance(k, (int, str)):
        raise ValueError(f"edit batch size k must be a positive integer or 'all', got {k!r}")
    try:
        value = int(k)
    except ValueError:
        raise ValueError(f"edit batch size k must be a positive integer or 'all', got {k!r}") from None
    if value < 1:
        raise ValueError(f"edit batch size k must be a positive integer or 'all', got {k!r}")
    return value


def group_cases(cases: Sequence[Case], k: int | str) -> list[list[Case]]:
    """Split cases, in order, into consecutive groups of ``k`` (the last may be smaller)."""
    size = parse_k(k)
    if size is None or size >= len(cases):
        return [list(cases)] if cases else []
    return [list(cases[i : i + size]) for i in range(0, len(cases), size)]


def group_edits(cases: Iterable[Case]) -> list[Edit]:
    """The distinct edits of a group, in first-seen order (cases of one batch may share edits)."""
    seen: dict[tuple[str, str, str], Edit] = {}
    for case in cases:
        for edit in case.edits:
            seen.setdefault((edit.prompt, edit.subject, edit.target_new), edit)
    return list(seen.values())
