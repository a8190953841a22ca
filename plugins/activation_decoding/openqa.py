"""Open-domain QA data (TriviaQA, NQ-open, HotpotQA formats) and lenient exact match.

Lenient EM (Chen et al., 2024, following DoLa's knowledge-QA evaluation): after SQuAD
normalisation (lower-case, drop punctuation and the articles a/an/the, squeeze spaces), a
prediction is correct when it equals an alias, or either string contains the other; the
maximum is taken over aliases and an empty prediction scores 0.
"""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

#: The 2-shot exemplars of our QA prompt (written for this harness).
QA_SHOTS = (
    ("What is the capital city of Australia?", "Canberra"),
    ("Who wrote the novel Pride and Prejudice?", "Jane Austen"),
)

FORMATS = ("triviaqa", "nq_open", "hotpotqa")
#: Hub configurations the paper evaluated (validation splits).
_HUB_CONFIGS = {"triviaqa": ("unfiltered.nocontext", "validation"), "nq_open": (None, "validation"), "hotpotqa": ("fullwiki", "validation")}


class QAFormatError(ValueError):
    """A QA file does not have the expected shape (the message names file, record, field)."""


@dataclass
class QAItem:
    id: str
    question: str
    answers: list[str]  # gold answer and its aliases


_PUNCT = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """SQuAD's answer normalisation."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


CONTAINMENT = ("substring", "words")


def lenient_match(prediction: str, aliases: Iterable[str], containment: str = "substring") -> float:
    """1.0 if the normalised prediction equals, contains or is contained in an alias.

    ``substring`` compares characters, as the paper's evaluation code does (so "0" is found in
    "100"); ``words`` requires the contained string to cover whole words.
    """
    if containment not in CONTAINMENT:
        raise ValueError(f"containment must be one of {CONTAINMENT}, got {containment!r}")
    pred = normalize_answer(prediction)
    if not pred:
        return 0.0
    pad = (lambda t: f" {t} ") if containment == "words" else (lambda t: t)
    for alias in aliases:
        gold = normalize_answer(alias)
        if gold and (pred == gold or pad(gold) in pad(pred) or pad(pred) in pad(gold)):
            return 1.0
    return 0.0


def qa_prompt(question: str, shots: Iterable[tuple[str, str]] = QA_SHOTS) -> str:
    demo = "".join(f"Q: {q}\nA: {a}\n\n" for q, a in shots)
    return f"{demo}Q: {question.strip()}\nA:"


def clean_prediction(text: str, stops: Iterable[str] = ("Q:",)) -> str:
    """Cut at the first stop sequence (if the generator left one) and strip whitespace."""
    for stop in stops:
        idx = text.find(stop)
        if idx >= 0:
            text = text[:idx]
    return text.strip()


# --- Loaders ------------------------------------------------------------------------------


def _read_records(path: Path) -> list[dict[str, Any]]:
    from harness.textio import read_utf8

    text = read_utf8(path, QAFormatError)
    if path.suffix.lower() == ".jsonl":
        out = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise QAFormatError(f"{path}:{lineno}: invalid JSON line ({err.msg})") from err
        return out
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise QAFormatError(f"{path}:{err.lineno}: invalid JSON ({err.msg})") from err
    if isinstance(data, dict):
        for key in ("Data", "data", "validation"):
            if isinstance(data.get(key), list):
                return data[key]
        raise QAFormatError(f"{path}: a JSON object must hold the records under 'Data' (TriviaQA) or 'data'")
    if not isinstance(data, list):
        raise QAFormatError(f"{path}: expected a JSON list of records")
    return data


def detect_format(rec: dict[str, Any]) -> str:
    if "Question" in rec and "Answer" in rec:
        return "triviaqa"
    if isinstance(rec.get("answer"), dict):
        return "triviaqa"  # hub trivia_qa: answer {value, aliases, ...}
    if isinstance(rec.get("answer"), list):
        return "nq_open"
    if isinstance(rec.get("answer"), str):
        return "hotpotqa"  # HotpotQA (and any plain {question, answer} record)
    raise QAFormatError(f"cannot tell the QA format of a record with fields {sorted(rec)}")


def convert_record(rec: dict[str, Any], fmt: str, index: int, where: str) -> QAItem:
    try:
        if fmt == "triviaqa":
            if "Question" in rec:  # original TriviaQA JSON
                ans = rec["Answer"]
                aliases = [ans["Value"], *ans.get("Aliases", [])]
                return QAItem(str(rec.get("QuestionId", index)), rec["Question"], _dedupe(aliases))
            ans = rec["answer"]
            aliases = [ans["value"], *ans.get("aliases", [])]
            return QAItem(str(rec.get("question_id", index)), rec["question"], _dedupe(aliases))
        if fmt == "nq_open":
            answers = rec["answer"]
            if isinstance(answers, str):
                answers = [answers]
            return QAItem(str(rec.get("id", index)), rec["question"], _dedupe(answers))
        if fmt == "hotpotqa":
            return QAItem(str(rec.get("_id", rec.get("id", index))), rec["question"], _dedupe([rec["answer"]]))
    except (KeyError, TypeError) as err:
        raise QAFormatError(f"{where} record #{index}: missing or malformed field {err} for the {fmt} format") from err
    raise QAFormatError(f"unknown QA format {fmt!r}; expected one of {FORMATS}")


def _dedupe(answers: Iterable[Any]) -> list[str]:
    return list(dict.fromkeys(str(a) for a in answers if str(a).strip()))


def load_qa(source: str | Path, fmt: str | None = None, limit: int | None = None, split: str | None = None) -> list[QAItem]:
    """QA items from a .json/.jsonl file (format detected or given) or a hub dataset id."""
    if fmt is not None and fmt not in FORMATS:
        raise QAFormatError(f"unknown QA format {fmt!r}; expected one of {FORMATS}")
    path = Path(source)
    if path.exists():
        records = _read_records(path)
        where = str(path)
    else:
        records, where = _load_hub(str(source), fmt, split, limit), str(source)
    if not records:
        raise QAFormatError(f"{where}: no QA records found")
    records = records[:limit] if limit else records
    kind = fmt or detect_format(records[0])
    items = [convert_record(r, kind, i, where) for i, r in enumerate(records)]
    empty = [it.id for it in items if not it.answers]
    if empty:
        raise QAFormatError(f"{where}: record(s) {empty[:5]} have no gold answer")
    return items


def _load_hub(dataset_id: str, fmt: str | None, split: str | None, limit: int | None) -> list[dict[str, Any]]:
    guess = fmt or next((f for f in FORMATS if f.replace("_", "") in dataset_id.replace("_", "").lower()), None)
    config, default_split = _HUB_CONFIGS.get(guess or "", (None, "validation"))
    try:
        import datasets

        ds = datasets.load_dataset(dataset_id, config, split=split or default_split)
    except Exception as err:  # noqa: BLE001 - offline, unknown id, ...
        raise QAFormatError(
            f"{dataset_id!r} is neither an existing file nor a loadable hub dataset ({type(err).__name__}: {err}); "
            "give the path of a TriviaQA / NQ-open / HotpotQA .json or .jsonl file"
        ) from err
    n = len(ds) if not limit else min(limit, len(ds))
    return [dict(ds[i]) for i in range(n)]
