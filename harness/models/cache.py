"""An on-disk request cache: identical deterministic requests to the same model are free."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Sequence

from harness.models.base import GenerationRequest, GenerationResult, LoglikelihoodResult, ModelAdapter
from harness.results import stable_hash


class CachingAdapter:
    """Wraps an adapter; ``loglikelihood``/``loglikelihood_rolling``/greedy or seeded ``generate``
    are looked up by (fingerprint, method, request) in a SQLite file. Everything else passes through."""

    def __init__(self, inner: ModelAdapter, path: Path):
        self.inner = inner
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path))
        self.db.execute("CREATE TABLE IF NOT EXISTS cache (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self.hits = self.misses = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _cached(self, method: str, requests: Sequence[Any], compute: Callable[[list[Any]], list[Any]],
                decode: Callable[[Any], Any], cacheable: Callable[[Any], bool] = lambda r: True) -> list[Any]:
        fp = self.inner.fingerprint()
        keys = [stable_hash([fp, method, asdict(r) if hasattr(r, "__dataclass_fields__") else r], 64) for r in requests]
        found: dict[str, Any] = {}
        for key in set(keys):
            row = self.db.execute("SELECT value FROM cache WHERE key = ?", (key,)).fetchone()
            if row is not None:
                found[key] = decode(json.loads(row[0]))
        todo = [i for i, k in enumerate(keys) if k not in found or not cacheable(requests[i])]
        self.hits += len(requests) - len(todo)
        self.misses += len(todo)
        fresh = compute([requests[i] for i in todo]) if todo else []
        out = [found.get(k) for k in keys]
        for i, res in zip(todo, fresh):
            out[i] = res
            if cacheable(requests[i]):
                value = asdict(res) if hasattr(res, "__dataclass_fields__") else res
                self.db.execute("INSERT OR REPLACE INTO cache VALUES (?, ?)", (keys[i], json.dumps(value)))
        self.db.commit()
        return out

    def loglikelihood(self, requests, **kw):
        return self._cached("loglikelihood", requests, lambda r: self.inner.loglikelihood(r, **kw),
                            lambda d: LoglikelihoodResult(**{**d, "token_logprobs": tuple(d["token_logprobs"]), "tokens": tuple(d["tokens"])}))

    def loglikelihood_rolling(self, requests, **kw):
        return self._cached("loglikelihood_rolling", requests, lambda r: self.inner.loglikelihood_rolling(r, **kw), float)

    def generate(self, requests: Sequence[GenerationRequest], **kw) -> list[GenerationResult]:
        return self._cached("generate", requests, lambda r: self.inner.generate(r, **kw), lambda d: GenerationResult(**d),
                            cacheable=lambda r: not r.do_sample or r.seed is not None)
