"""The published MQuAKE variants, from a file, a folder, or the Hugging Face hub.

``variant:`` names one (with ``data:`` the file, a folder holding it, or a hub dataset id):

* ``cf3k``, ``cf3k_v2``, ``cf``, ``t``, ``hard``: the original release's JSON files
  (``MQuAKE-CF-3k.json``, ``MQuAKE-CF-3k-v2.json``, ``MQuAKE-CF.json``, ``MQuAKE-T.json``,
  ``MQuAKE-hard.json``), looked up in a folder as ``<folder>/<file>`` or
  ``<folder>/datasets/<file>`` (the GitHub repository's layout). MQuAKE-T adds
  ``answer_extended`` (further accepted original answers), which the loader keeps.
* ``remastered_cf3k``, ``remastered_cf9k``, ``remastered_cf6334``, ``remastered_t``: the
  corrected MQuAKE-Remastered (Zhong et al. 2025), hub id ``henryzhongsc/MQuAKE-Remastered``,
  one split per variant (``CF3k``, ``CF9k``, ``CF6334``, ``T``) as ``data/<split>-*.parquet``
  (or ``.json``/``.jsonl``); rows flatten ``target_new`` to ``target_new_str``/``_id`` and carry
  ``split`` = {edit count N: labels}. A case is *edited* at N when its labels hold ``edited``
  (CF6334: ``train_edited`` or ``test_edited``) and *unedited* otherwise (CF6334: only with
  ``test_unedited``; a CF6334 case with neither is not evaluated at N), as the official loader
  (``eval/mquake_remastered/mquake_dataset.py`` of github.com/henryzhongsc/MQuAKE-Remastered)
  reads them. With ``remastered_edits: N`` :func:`load_variant` keeps the edited cases at N;
  :func:`load_remastered` returns both kinds, for the corrected protocol's unedited cases
  (asked with the edited cases' edits applied, judged against their original answers; the
  benchmark's ``remastered_unedited: true``).

A hub id downloads only the files needed (``huggingface_hub``, so ``HF_HUB_OFFLINE`` and its
cache apply); the same reader then reads the downloaded folder, which the tests exercise with
a local folder in the hub's layout.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness_plugins.mquake.data import Case, MQuAKEDataError, load_cases, parse_cases, resolve_path

ORIGINAL = {"cf3k": "MQuAKE-CF-3k.json", "cf3k_v2": "MQuAKE-CF-3k-v2.json", "cf": "MQuAKE-CF.json",
            "t": "MQuAKE-T.json", "hard": "MQuAKE-hard.json"}
REMASTERED = {"remastered_cf3k": "CF3k", "remastered_cf9k": "CF9k", "remastered_cf6334": "CF6334", "remastered_t": "T"}
REMASTERED_HUB = "henryzhongsc/MQuAKE-Remastered"
VARIANTS = tuple(ORIGINAL) + tuple(REMASTERED)


def load_variant(variant: str, source: str | None = None, remastered_edits: int | None = None) -> list[Case]:
    """The cases of ``variant`` from ``source`` (a file, a folder, a hub dataset id)."""
    if variant not in VARIANTS:
        raise MQuAKEDataError(f"unknown MQuAKE variant {variant!r}; one of {', '.join(VARIANTS)}")
    if variant in ORIGINAL:
        if source is None:
            raise MQuAKEDataError(f"variant {variant!r} needs data: its {ORIGINAL[variant]} file, a folder holding it, or a hub dataset id")
        return load_cases(_original_file(ORIGINAL[variant], source))
    folder, split, rows = _remastered_rows(variant, source)
    if remastered_edits is not None:
        rows = [r for r in rows if remastered_kind(variant, _labels(r, remastered_edits)) == "edited"]
        if not rows:
            raise MQuAKEDataError(f"{folder}: no case of split {split} is labelled 'edited' at {remastered_edits} edits")
    return parse_cases([unflatten(r) for r in rows], f"{folder}[{split}]")


def load_remastered(variant: str, source: str | None, edits: int) -> tuple[list[Case], list[Case]]:
    """The (edited, unedited) cases of a ``remastered_*`` variant at ``edits`` edits, each kind in
    file order (its rows' ``split`` labels stay in ``Case.raw``)."""
    if variant not in REMASTERED:
        raise MQuAKEDataError(f"remastered_unedited applies to the remastered_* variants only, not {variant!r}")
    folder, split, rows = _remastered_rows(variant, source)
    cases = parse_cases([unflatten(r) for r in rows], f"{folder}[{split}]")
    kinds = [remastered_kind(variant, _labels(r, edits)) for r in rows]
    edited = [c for c, k in zip(cases, kinds) if k == "edited"]
    unedited = [c for c, k in zip(cases, kinds) if k == "unedited"]
    if not edited:
        raise MQuAKEDataError(f"{folder}: no case of split {split} is labelled 'edited' at {edits} edits")
    if not unedited:
        raise MQuAKEDataError(f"remastered_unedited: {folder}: split {split} has no unedited case at {edits} edits "
                              f"(all {len(edited)} evaluated cases are labelled edited)")
    return edited, unedited


def remastered_kind(variant: str, labels: list[str]) -> str | None:
    """``edited``, ``unedited`` or ``None`` (not evaluated at that edit count) for a case's labels."""
    if variant == "remastered_cf6334":
        if "train_edited" in labels or "test_edited" in labels:
            return "edited"
        return "unedited" if "test_unedited" in labels else None
    return "edited" if "edited" in labels else "unedited"


def _remastered_rows(variant: str, source: str | None) -> tuple[Path, str, list[dict[str, Any]]]:
    split = REMASTERED[variant]
    folder = _folder_or_download(source or REMASTERED_HUB, [f"data/{split}-*", f"*{split}.json", f"*{split}.jsonl"])
    return folder, split, read_split(folder, split)


def _original_file(name: str, source: str) -> Path:
    path = Path(source).expanduser()
    if path.is_dir() or _looks_like_hub_id(source):
        folder = path if path.is_dir() else _folder_or_download(source, [name, f"datasets/{name}"])
        for cand in (folder / name, folder / "datasets" / name):
            if cand.is_file():
                return cand
        raise MQuAKEDataError(f"{folder}: neither {name} nor datasets/{name}")
    return resolve_path(source)


def _looks_like_hub_id(source: str) -> bool:
    parts = source.split("/")
    return len(parts) == 2 and all(parts) and not Path(source).exists() and not source.endswith((".json", ".jsonl"))


def _folder_or_download(source: str, patterns: list[str]) -> Path:
    path = Path(source).expanduser()
    if path.is_dir():
        return path
    if not _looks_like_hub_id(source):
        raise MQuAKEDataError(f"MQuAKE data {source!r} is neither a folder nor a hub dataset id (OWNER/NAME)")
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id=source, repo_type="dataset", allow_patterns=patterns))
    except Exception as err:  # noqa: BLE001 - offline, missing repository
        raise MQuAKEDataError(f"could not fetch {patterns} from hub dataset {source!r}: {type(err).__name__}: {err}") from err


def read_split(folder: Path, split: str) -> list[dict[str, Any]]:
    """Rows of ``split``: ``data/<split>-*.parquet`` (the hub's layout), else a JSON/JSONL file."""
    parquet = sorted(folder.glob(f"data/{split}-*.parquet"))
    if parquet:
        import pyarrow.parquet as pq

        return [row for f in parquet for row in pq.read_table(f).to_pylist()]
    for pattern in (f"data/{split}-*.jsonl", f"data/{split}-*.json", f"**/{split}.jsonl", f"**/{split}.json"):
        for f in sorted(folder.glob(pattern)):
            text = f.read_text(encoding="utf-8")
            return [json.loads(l) for l in text.splitlines() if l.strip()] if f.suffix == ".jsonl" else json.loads(text)
    raise MQuAKEDataError(f"{folder}: no file for split {split!r} (looked for data/{split}-*.parquet, .jsonl, .json)")


def _labels(row: dict[str, Any], edits: int) -> list[str]:
    split = row.get("split") or {}
    if isinstance(split, str):
        split = json.loads(split)
    if isinstance(split, list):  # parquet map columns read back as [(key, value), ...]
        split = dict(split)
    labels = split.get(str(edits), split.get(edits))
    if labels is None:
        raise MQuAKEDataError(f"case {row.get('case_id')!r}: no 'split' labels for {edits} edits (has {sorted(map(str, split))})")
    return [labels] if isinstance(labels, str) else list(labels)


def unflatten(row: dict[str, Any]) -> dict[str, Any]:
    """A Remastered row in the original schema: ``target_new_str``/``_id`` -> ``target_new``
    {str, id} (same for ``target_true``); other fields pass through."""
    out = dict(row)
    rewrites = []
    for r in row.get("requested_rewrite") or []:
        r = dict(r)
        for side in ("target_new", "target_true"):
            if side not in r and f"{side}_str" in r:
                r[side] = {"str": r.pop(f"{side}_str"), "id": r.pop(f"{side}_id", "")}
        rewrites.append(r)
    out["requested_rewrite"] = rewrites
    for key in ("answer_alias", "new_answer_alias"):
        if out.get(key) is None:
            out[key] = []
    if out.get("answer_extended") is None:
        out.pop("answer_extended", None)
    return out
