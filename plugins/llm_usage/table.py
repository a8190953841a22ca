"""The fitted word table: per-word log-probabilities of occurring in a human / AI sentence.

Saved in the paper's format: columns ``Word, logP, log1-P, logQ, log1-Q`` (CSV, or parquet
when the path ends in ``.parquet``). The CSV is read with the standard ``csv`` module, so
words such as ``null``, ``nan`` or ``na`` stay words (a pandas reader with default options
turns them into missing values).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

COLUMNS = ("Word", "logP", "log1-P", "logQ", "log1-Q")


class TableError(ValueError):
    """A word-table file is malformed; the message names the file, line and column."""


@dataclass
class WordTable:
    """Vocabulary ``words`` with log p, log(1-p), log q, log(1-q) as float64 arrays."""

    words: list[str]
    log_p: np.ndarray
    log_1mp: np.ndarray
    log_q: np.ndarray
    log_1mq: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)  # counts and thresholds of the fit

    def __post_init__(self) -> None:
        n = len(self.words)
        for name in ("log_p", "log_1mp", "log_q", "log_1mq"):
            arr = np.asarray(getattr(self, name), dtype=np.float64)
            if arr.shape != (n,):
                raise TableError(f"word table: {name} has shape {arr.shape}, expected ({n},)")
            setattr(self, name, arr)
        if len(set(self.words)) != n:
            raise TableError("word table: duplicate words")

    def __len__(self) -> int:
        return len(self.words)

    def index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.words)}

    def ratio_weights(self) -> tuple[np.ndarray, float]:
        """``(w, c)`` with log Q(x) - log P(x) = c + sum of w_t over the words t in x."""
        w = (self.log_q - self.log_1mq) - (self.log_p - self.log_1mp)
        c = math.fsum(self.log_1mq) - math.fsum(self.log_1mp)
        return w, c

    def subset(self, words: set[str]) -> WordTable:
        keep = [i for i, w in enumerate(self.words) if w in words]
        return WordTable(
            [self.words[i] for i in keep], self.log_p[keep], self.log_1mp[keep], self.log_q[keep], self.log_1mq[keep],
            info={**self.info, "restricted_to": len(words)},
        )

    # --- files ---------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() in (".parquet", ".pq"):
            import pyarrow as pa
            import pyarrow.parquet as pq

            cols = [pa.array(self.words, pa.string())] + [pa.array(a) for a in (self.log_p, self.log_1mp, self.log_q, self.log_1mq)]
            pq.write_table(pa.Table.from_arrays(cols, names=list(COLUMNS)), path)
            return path
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(COLUMNS)
            for i, word in enumerate(self.words):
                writer.writerow([word, repr(float(self.log_p[i])), repr(float(self.log_1mp[i])), repr(float(self.log_q[i])), repr(float(self.log_1mq[i]))])
        return path

    @classmethod
    def load(cls, path: str | Path) -> WordTable:
        path = Path(path)
        if not path.is_file():
            raise TableError(f"{path}: word table not found")
        if path.suffix.lower() in (".parquet", ".pq"):
            return cls._load_parquet(path)
        words: list[str] = []
        values: list[list[float]] = []
        try:
            with path.open(encoding="utf-8", newline="") as fh:
                reader = csv.reader(fh)
                header = next(reader, None)
                if header is None or [h.strip() for h in header][:5] != list(COLUMNS):
                    raise TableError(f"{path}:1: expected the header {','.join(COLUMNS)}, got {','.join(header or []) or 'an empty file'}")
                for lineno, row in enumerate(reader, start=2):
                    if not row:
                        continue
                    if len(row) < 5:
                        raise TableError(f"{path}:{lineno}: expected 5 columns ({','.join(COLUMNS)}), got {len(row)}")
                    try:
                        nums = [float(x) for x in row[1:5]]
                    except ValueError:
                        raise TableError(f"{path}:{lineno}: columns logP..log1-Q must be numbers, got {row[1:5]}") from None
                    if not all(math.isfinite(x) and x <= 0 for x in nums):
                        raise TableError(f"{path}:{lineno}: log-probabilities must be finite and <= 0, got {row[1:5]} for word {row[0]!r}")
                    words.append(row[0])
                    values.append(nums)
        except UnicodeDecodeError as err:
            raise TableError(f"{path}: not valid UTF-8 ({err.reason})") from None
        if not words:
            raise TableError(f"{path}: the word table has no rows")
        arr = np.array(values, dtype=np.float64)
        return cls(words, arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3], info={"path": str(path)})

    @classmethod
    def _load_parquet(cls, path: Path) -> WordTable:
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as err:  # noqa: BLE001
            raise TableError(f"{path}: not a readable parquet file ({err})") from None
        missing = [c for c in COLUMNS if c not in table.column_names]
        if missing:
            raise TableError(f"{path}: missing column(s) {missing} (expected {', '.join(COLUMNS)})")
        cols = [np.asarray(table.column(c).to_numpy(), dtype=np.float64) for c in COLUMNS[1:]]
        if not all(np.isfinite(c).all() for c in cols):
            raise TableError(f"{path}: log-probabilities must be finite")
        return cls([str(w) for w in table.column("Word").to_pylist()], *cols, info={"path": str(path)})


def read_word_list(path: str | Path) -> set[str]:
    """A restricted vocabulary: one word per line (``#`` comments and blank lines ignored)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise TableError(f"{path}: word list not found") from None
    except UnicodeDecodeError as err:
        raise TableError(f"{path}: not valid UTF-8 ({err.reason})") from None
    words = {line.split("#", 1)[0].strip().lower() for line in lines}
    words.discard("")
    if not words:
        raise TableError(f"{path}: the word list is empty")
    return words
