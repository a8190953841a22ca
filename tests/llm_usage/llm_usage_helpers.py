"""Helpers of the llm_usage tests (a module of its own: every test folder has a ``conftest``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
REFDATA = REPO.parent / "shared" / "refdata" / "llm_usage"

needs_refdata = pytest.mark.skipif(not REFDATA.is_dir(), reason=f"reference data {REFDATA} is not present")


def harness_cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """``python -m harness ARGS`` as a real subprocess."""
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, cwd=REPO, timeout=timeout)


class BernoulliWorld:
    """Sentences as independent word occurrences: word t is in a human sentence with
    probability p_t and in an AI sentence with probability q_t (the model's own assumption,
    so the estimator is correctly specified here)."""

    def __init__(self, n_words: int = 300, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.words = [f"w{i}" for i in range(n_words)]
        self.p = rng.uniform(0.005, 0.12, n_words)
        self.q = np.clip(self.p * rng.lognormal(0.0, 0.8, n_words), 0.002, 0.4)
        self.rng = rng

    def sentences(self, n: int, probs: np.ndarray, length_sd: float = 0.0) -> list[list[str]]:
        """``length_sd > 0`` scales each sentence's probabilities by a log-normal factor (long
        and short sentences), which breaks the model's independence assumption."""
        if length_sd > 0:
            probs = np.clip(self.rng.lognormal(0.0, length_sd, (n, 1)) * probs, 0.0, 0.95)
        hits = self.rng.random((n, len(self.words))) < probs
        out = []
        for row in hits:
            words = [self.words[j] for j in np.flatnonzero(row)]
            out.append(words if len(words) > 1 else ["filler", "words"])
        return out

    def human(self, n: int, length_sd: float = 0.0) -> list[list[str]]:
        return self.sentences(n, self.p, length_sd)

    def ai(self, n: int, length_sd: float = 0.0) -> list[list[str]]:
        return self.sentences(n, self.q, length_sd)


def write_jsonl(path: Path, texts: list, key: str = "text", extra: dict | None = None) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for i, t in enumerate(texts):
            rec = {key: t, **({k: v[i] for k, v in extra.items()} if extra else {})}
            fh.write(json.dumps(rec) + "\n")
    return path


def write_token_parquet(path: Path, sentences: list[list[str]], column: str = "sentence") -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({column: pa.array(sentences, type=pa.list_(pa.string()))}), path)
    return path
