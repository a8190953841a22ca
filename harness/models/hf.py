"""The transformers backend: any causal LM by hub id, local path, GGUF file or in-memory model."""

from __future__ import annotations

import contextlib
import hashlib
import logging
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch

from harness.models import generation, scoring
from harness.models.base import (
    ForwardOutput,
    GenerationRequest,
    GenerationResult,
    Intervention,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    ModelAdapter,
    RollingRequest,
    WeightEditor,
)
from harness.models.args import parse_bool
from harness.models.batching import BatchSizer
from harness.models.hooks import residual_hooks
from harness.models.layers import decoder_blocks, unembed

log = logging.getLogger("harness.models")


def pick_device(device: str = "auto") -> torch.device:
    if device != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_dtype(dtype: str | torch.dtype, device: torch.device) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    names = {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16, "fp16": torch.float16,
             "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}
    if dtype not in names:
        raise ValueError(f"dtype={dtype!r} is not one of auto, {', '.join(names)}")
    return names[dtype]


class HFAdapter(ModelAdapter):
    """A transformers causal LM behind the :class:`ModelAdapter` protocol."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        name: str = "",
        batch_size: int | str = "auto",
        max_batch_size: int = 64,
        add_bos_token: bool | None = None,
        max_length: int | None = None,
        decoding: str | None = None,
        share_prefix: bool = True,
        source: str = "",
    ):
        self.model = model.eval()
        self.model.requires_grad_(False)  # frozen: gradients flow only into trainable interventions
        self.tokenizer = tokenizer
        self.name = name or getattr(model.config, "_name_or_path", "") or type(model).__name__
        self.source = source or self.name
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        model_type = getattr(model.config, "model_type", "")
        # As lm-eval: no BOS unless asked, except Gemma, which needs one.
        self.add_bos_token = ("gemma" in model_type) if add_bos_token is None else parse_bool("add_bos_token", add_bos_token)
        self.max_length = max_length or _max_length(model, tokenizer)
        self.decoding = decoding
        self.share_prefix = bool(share_prefix)  # generation runs a batch's common prompt prefix once
        self.blocks = decoder_blocks(model)
        self.sizer = BatchSizer(self, batch_size, max_batch_size)
        self._fingerprint: str | None = None

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def from_model(cls, model: Any, tokenizer: Any, **kwargs: Any) -> HFAdapter:
        """Wrap an in-memory model and tokenizer (Python API, tests)."""
        return cls(model, tokenizer, **kwargs)

    @classmethod
    def from_pretrained(
        cls,
        pretrained: str,
        *,
        gguf_file: str | None = None,
        revision: str | None = None,
        device: str = "auto",
        dtype: str = "auto",
        device_map: str | None = None,
        trust_remote_code: bool = False,
        **kwargs: Any,
    ) -> HFAdapter:
        """Load by hub id or local path (or a GGUF file inside that folder)."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        trust_remote_code = parse_bool("trust_remote_code", trust_remote_code)  # never a truthy "no"
        dev = pick_device(device)
        torch_dtype = pick_dtype(dtype, dev)
        load_kw: dict[str, Any] = {"dtype": torch_dtype, "trust_remote_code": trust_remote_code}
        if gguf_file:
            load_kw["gguf_file"] = gguf_file
        if revision:
            load_kw["revision"] = revision
        if device_map:
            load_kw["device_map"] = device_map
        tok_kw = {k: v for k, v in load_kw.items() if k in ("gguf_file", "revision", "trust_remote_code")}
        tokenizer = AutoTokenizer.from_pretrained(pretrained, **tok_kw)
        model = AutoModelForCausalLM.from_pretrained(pretrained, **load_kw)
        if not device_map:
            model = model.to(dev)
        name = kwargs.pop("name", None) or Path(str(pretrained)).name
        return cls(model, tokenizer, name=name, source=f"{pretrained}{'/' + gguf_file if gguf_file else ''}", **kwargs)

    # -- properties -------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @property
    def num_layers(self) -> int:
        return len(self.blocks)

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def prefix_token_id(self) -> int:
        """The token an empty context starts from (BOS, else EOS), as in lm-eval."""
        tok = self.tokenizer
        return tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id

    def unembed(self, hidden: torch.Tensor, final_norm: bool = True) -> torch.Tensor:
        return unembed(self.model, hidden, final_norm)

    def fingerprint(self) -> str:
        """sha256 over config, dtype, tokenizer vocabulary and a strided sample of every weight."""
        if self._fingerprint is None:
            h = hashlib.sha256()
            h.update(type(self.model).__name__.encode())
            h.update(self.model.config.to_json_string(use_diff=False).encode())
            h.update(str(self.dtype).encode())
            h.update(repr((self.add_bos_token, self.max_length, self.decoding)).encode())
            vocab = self.tokenizer.get_vocab()
            h.update(hashlib.sha256(repr(sorted(vocab.items())).encode()).digest())
            with torch.no_grad():
                for pname, p in self.model.named_parameters():
                    flat = p.detach().reshape(-1)
                    step = max(1, flat.numel() // 4096)
                    h.update(pname.encode())
                    h.update(flat[::step].float().cpu().numpy().tobytes())
            self._fingerprint = h.hexdigest()
        return self._fingerprint

    # -- tokenisation -----------------------------------------------------------------------
    def tok_encode(self, text: str) -> list[int]:
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        if self.add_bos_token and self.tokenizer.bos_token_id is not None:
            ids = [self.tokenizer.bos_token_id] + ids
        return ids

    def encode_batch(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        """Right-padded ids and mask on the model's device, and each text's length."""
        seqs = [self.tok_encode(t) for t in texts]
        for text, seq in zip(texts, seqs):
            if not seq:
                raise ValueError(f"text {text!r} encodes to no tokens")
        lengths = [len(s) for s in seqs]
        width = max(lengths)
        ids = torch.full((len(seqs), width), self.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s)
            mask[i, : len(s)] = 1
        return ids.to(self.device), mask.to(self.device), lengths

    # -- white-box forward ------------------------------------------------------------------
    def forward(
        self,
        texts: Sequence[str],
        sites: Sequence[int] = (),
        interventions: Sequence[Intervention] = (),
        grad: bool = False,
    ) -> ForwardOutput:
        ids, mask, lengths = self.encode_batch(texts)
        return self.forward_ids(ids, mask, lengths, sites, interventions, grad)

    def forward_ids(self, ids, mask, lengths, sites=(), interventions=(), grad=False) -> ForwardOutput:
        """:meth:`forward` on already-tokenised, right-padded ids."""
        ctx = contextlib.nullcontext() if grad else torch.no_grad()
        with ctx, residual_hooks(self.blocks, sites, interventions, lengths) as states:
            logits = self.model(input_ids=ids, attention_mask=mask, use_cache=False).logits
        return ForwardOutput(logits=logits, attention_mask=mask, lengths=list(lengths), states=dict(states))

    @contextlib.contextmanager
    def weight_edits(self, editor: WeightEditor, edits: Sequence[Any]) -> Iterator[None]:
        """Snapshot the weights, let ``editor`` change them, restore them on exit (also on error)."""
        snapshot = {n: p.detach().clone() for n, p in self.model.named_parameters()}
        try:
            editor.apply(self, edits)
            yield
        finally:
            with torch.no_grad():
                for n, p in self.model.named_parameters():
                    p.copy_(snapshot[n])

    # -- scoring and generation ---------------------------------------------------------------
    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest], progress: bool = False) -> list[LoglikelihoodResult]:
        return scoring.loglikelihood(self, requests, progress=progress)

    def loglikelihood_rolling(self, requests: Sequence[RollingRequest], progress: bool = False) -> list[float]:
        return scoring.loglikelihood_rolling(self, requests, progress=progress)

    def generate(self, requests: Sequence[GenerationRequest], progress: bool = False) -> list[GenerationResult]:
        return generation.generate(self, requests, progress=progress)


def _max_length(model: Any, tokenizer: Any) -> int:
    for attr in ("max_position_embeddings", "n_positions", "n_ctx", "seq_length"):
        value = getattr(model.config, attr, None)
        if isinstance(value, int) and value > 0:
            return min(value, 1 << 20)
    limit = getattr(tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and limit < 1 << 30 else 2048
