"""The transformers backend: any causal LM by hub id, local path, GGUF file or in-memory model."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Annotated, Any, Iterator, Sequence

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
from harness.models.attention import use_packed_attention
from harness.models.args import BatchSize, DType, PositiveInt, parse_bool
from harness.options import Min
from harness.models.batching import BatchSizer
from harness.models.decoding_spec import DecodingSpec
from harness.models.fingerprint import weights_fingerprint
from harness.models.tokenization import Tokenization
from harness.whitebox.capabilities import WHITE_BOX, Capability
from harness.whitebox.decode import accepts_logits_to_keep, eos_ids
from harness.whitebox.lookahead import DEFAULT_DRAFT_TOKENS
from harness.whitebox.hooks import intervention_edits, site_hooks
from harness.whitebox.layout import Layout, Site
from harness.whitebox.prefix_store import PrefixStore

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


class HFAdapter(Tokenization, ModelAdapter):
    """A transformers causal LM behind the :class:`ModelAdapter` protocol (every capability)."""

    capabilities = WHITE_BOX

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        name: str = "",
        batch_size: BatchSize = "auto",
        max_batch_size: PositiveInt = 64,
        add_bos_token: bool | None = None,
        max_length: PositiveInt | None = None,
        decoding: str | DecodingSpec | None = None,
        share_prefix: bool = True,
        prompt_lookup: Annotated[int, Min(0)] = DEFAULT_DRAFT_TOKENS,
        packed_attention: bool = True,
        cached_rerun: bool = True,
        source: str = "",
        threads: BatchSize | None = None,
    ):
        if threads is not None:  # N or "auto": process-wide torch CPU threads (harness.threads)
            from harness import threads as cpu_threads

            cpu_threads.configure(threads)
        self.model = model.eval()
        self.model.requires_grad_(False)  # frozen: gradients flow only into trainable interventions
        # grouped-query attention on shared keys instead of transformers' per-head copies (harness.models.attention)
        self.packed_attention = parse_bool("packed_attention", packed_attention) and use_packed_attention(self.model)
        self.tokenizer = tokenizer
        self.name = name or getattr(model.config, "_name_or_path", "") or type(model).__name__
        self.source = source or self.name
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        model_type = getattr(model.config, "model_type", "")
        # As lm-eval: no BOS unless asked, except Gemma, which needs one.
        self.add_bos_token = ("gemma" in model_type) if add_bos_token is None else parse_bool("add_bos_token", add_bos_token)
        self.max_length = max_length or _max_length(model, tokenizer)
        self.decoding = DecodingSpec.parse(decoding) if decoding else None  # parsed once, not per generation batch
        self.share_prefix = bool(share_prefix)  # generation runs a batch's common prompt prefix once
        self.prompt_lookup = int(prompt_lookup)  # greedy generation checks drafts this long (0: one token per forward)
        if not cached_rerun:  # the reference path: interchange interventions as full forwards with an edit
            self.capabilities = WHITE_BOX - {Capability.CACHED_RERUN}
        self.layout = Layout.of(model)
        self.sizer = BatchSizer(self, batch_size, max_batch_size)
        self.prefix_store = PrefixStore()  # KV caches of prompt prefixes and transcripts, across calls
        self._fingerprint: str | None = None
        self._engine: Any = None

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
        dtype: DType = "auto",
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
            model = model.to(dev)  # type: ignore[arg-type]  # transformers wraps Module.to with functools.wraps, which types it unbound
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
        return self.layout.num_layers

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    def unembed(self, hidden: torch.Tensor, final_norm: bool = True) -> torch.Tensor:
        """Logits from residual states (optional final norm, LM head, soft-capping)."""
        return self.layout.unembed(hidden, final_norm)

    def unembedder(self) -> Any:
        """W_U, its bias and the final norm, for decoding rules that unembed by vocabulary chunk."""
        from harness.whitebox.unembed import Unembedder

        return Unembedder.from_layout(self.layout)

    def mlp_projection(self, layer: int) -> tuple[torch.Tensor, str]:
        """Block ``layer``'s (1-based) MLP output projection weight, which weight editors change
        inside :meth:`weight_edits`, and its orientation: ``"out_in"`` for (d_model, d_ff)
        (``nn.Linear``) or ``"in_out"`` for (d_ff, d_model) (GPT-2's ``Conv1D``). Its input is
        site ``("mlp_key", layer)``."""
        return self.layout.mlp_projection(layer)

    def mlp_output_map(self, layer: int) -> Any:
        """What block ``layer`` does to its MLP output (site ``("mlp_out", layer)``) before adding
        it to the residual stream: a function of the output tensor (Gemma 2/3's post-MLP norm),
        or None where it is added unchanged (pre-norm blocks)."""
        return self.layout.mlp_output_norm(layer)

    def eos_ids(self) -> set[int]:
        """The token ids that end a generation (one rule for every decode path)."""
        return eos_ids(self.model, self.tokenizer)

    def interchange_engine(self) -> Any:
        """The cached interchange engine on this model (built once, batched by this adapter), or
        with ``cached_rerun=false`` the full-forward reference engine."""
        if self._engine is None:
            if Capability.CACHED_RERUN in self.capabilities:
                from harness.interventions.engine import InterchangeEngine

                self._engine = InterchangeEngine(self)
            else:
                from harness.interventions.forward_engine import ForwardEngine

                self._engine = ForwardEngine(self)
        return self._engine

    def fingerprint(self) -> str:
        """sha256 over config, dtype, tokenizer vocabulary and a strided sample of every weight."""
        if self._fingerprint is None:
            self._fingerprint = weights_fingerprint(self.model, self.tokenizer, (self.add_bos_token, self.max_length, _text(self.decoding)))
        return self._fingerprint

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

    def forward_ids(
        self,
        ids: torch.Tensor,
        mask: torch.Tensor,
        lengths: Sequence[int] | None = None,
        sites: Sequence[Site] = (),
        interventions: Sequence[Intervention] = (),
        grad: bool = False,
        past_key_values: Any = None,
        past_length: int = 0,
        last_logits_only: bool = False,
        keep_cache: bool = False,
    ) -> ForwardOutput:
        """:meth:`forward` on already-tokenised, right-padded ids. With ``past_key_values`` the
        ids continue ``past_length`` cached tokens (``mask`` then covers the cached columns too);
        with it or ``keep_cache`` the returned ``cache`` holds every column. Interventions'
        positions index ``ids``; ``last_logits_only`` computes the LM head at the last column."""
        lengths = list(lengths) if lengths is not None else (mask[:, past_length:].sum(-1)).tolist()
        edits = intervention_edits(interventions, lengths)
        cached = past_key_values is not None or keep_cache
        kw: dict[str, Any] = {"use_cache": cached}
        if cached:
            width = ids.shape[1]
            kw["past_key_values"] = past_key_values
            kw["position_ids"] = past_length + torch.arange(width, device=ids.device)[None, :].expand(ids.shape[0], -1)
        if last_logits_only and accepts_logits_to_keep(self.model):
            kw["logits_to_keep"] = 1
        ctx = contextlib.nullcontext() if grad else torch.no_grad()
        with ctx, site_hooks(self.layout, read=sites, edit=edits) as states:
            out = self.model(input_ids=ids, attention_mask=mask, **kw)
        return ForwardOutput(logits=out.logits, attention_mask=mask, lengths=lengths, states=dict(states),
                             cache=out.past_key_values if cached else None)

    def decode_step(self) -> Any:
        """The decoding forward of the core decode loop for this model."""
        from harness.whitebox.decode import hf_step

        return hf_step(self.layout)

    @contextlib.contextmanager
    def weight_edits(self, editor: WeightEditor, edits: Sequence[Any]) -> Iterator[None]:
        """Snapshot the weights, let ``editor`` change them, restore them on exit (also on error)."""
        snapshot = {n: p.detach().clone() for n, p in self.model.named_parameters()}
        self.prefix_store.clear()  # cached prefixes were computed with the old weights
        try:
            editor.apply(self, edits)
            yield
        finally:
            with torch.no_grad():
                for n, p in self.model.named_parameters():
                    p.copy_(snapshot[n])
            self.prefix_store.clear()

    # -- scoring and generation ---------------------------------------------------------------
    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest], progress: bool = False) -> list[LoglikelihoodResult]:
        return scoring.loglikelihood(self, requests, progress=progress)

    def loglikelihood_rolling(self, requests: Sequence[RollingRequest], progress: bool = False) -> list[float]:
        return scoring.loglikelihood_rolling(self, requests, progress=progress)

    def generate(self, requests: Sequence[GenerationRequest], progress: bool = False) -> list[GenerationResult]:
        return generation.generate(self, requests, progress=progress)


def _text(decoding: DecodingSpec | None) -> str | None:
    return str(decoding) if decoding is not None else None


def _max_length(model: Any, tokenizer: Any) -> int:
    for attr in ("max_position_embeddings", "n_positions", "n_ctx", "seq_length"):
        value = getattr(model.config, attr, None)
        if isinstance(value, int) and value > 0:
            return min(value, 1 << 20)
    limit = getattr(tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and limit < 1 << 30 else 2048
