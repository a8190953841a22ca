"""The nnsight backend: the same adapter protocol, served by nnsight's own tracing.

Every forward runs inside ``model.trace(...)``: site reads are module envoys' ``.input`` /
``.output`` saved with ``nnsight.save``, edits are assignments to them inside the trace, in the
model's execution order (nnsight requires it). Plain and sampled generation go through
``model.generate(...)``; decoding rules and intervened generation use the core decode loop with
one trace per step. There is no cached partial re-run (``CACHED_RERUN`` is not declared): the
interchange engine is :class:`~harness.interventions.forward_engine.ForwardEngine`, full forwards
with an edit. Options: ``remote=true`` (NDIF's shared models) and any other trace keyword are
passed to every trace; they cannot be tested offline.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator, Sequence

import torch

from harness.models.base import ForwardOutput, GenerationRequest, GenerationResult, Intervention, LoglikelihoodRequest, ModelAdapter, RollingRequest
from harness.models.args import BatchSize, PositiveInt
from harness.models.batching import BatchSizer, run_batched
from harness.models.decoding_spec import DecodingSpec
from harness.models.fingerprint import weights_fingerprint
from harness.models.tokenization import Tokenization, left_padded
from harness.whitebox.capabilities import Capability
from harness.whitebox.decode import StopTracker, decode, eos_ids, greedy, sampler
from harness.whitebox.hooks import intervention_edits
from harness.whitebox.layout import Layout, Site

CAPABILITIES = frozenset({Capability.SCORING, Capability.GENERATION, Capability.SITE_READ, Capability.SITE_EDIT,
                          Capability.GRAD_INTERVENTIONS, Capability.WEIGHT_EDITS})


def _site_order(site: Site) -> tuple[int, int]:
    """Execution order of sites inside one forward: block l's MLP input, key, output, then its
    residual output; residual site 0 (block 1's input) first."""
    if isinstance(site, tuple):
        return int(site[1]), ("mlp_in", "mlp_key", "mlp_out").index(site[0])
    return int(site), 9


class NNsightAdapter(Tokenization, ModelAdapter):
    """A transformers causal LM behind nnsight, behind the adapter protocol."""

    capabilities = CAPABILITIES

    def __init__(self, lm: Any, tokenizer: Any = None, *, name: str = "", batch_size: BatchSize = "auto", max_batch_size: PositiveInt = 64,
                 add_bos_token: bool | None = None, max_length: PositiveInt | None = None, decoding: str | DecodingSpec | None = None,
                 trace_kwargs: dict[str, Any] | None = None, source: str = ""):
        self.lm = lm
        self.tokenizer = tokenizer if tokenizer is not None else lm.tokenizer
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        module = lm._module  # the wrapped torch module: where its parts are named, and its weights (local models)
        module.eval().requires_grad_(False)  # frozen: gradients flow only into trainable interventions
        self._module = module
        config = module.config
        self.name = name or getattr(config, "_name_or_path", "") or type(module).__name__
        self.source = source or self.name
        self.add_bos_token = ("gemma" in getattr(config, "model_type", "")) if add_bos_token is None else bool(add_bos_token)
        from harness.models.hf import _max_length

        self.max_length = max_length or _max_length(module, self.tokenizer)
        self.decoding = DecodingSpec.parse(decoding) if decoding else None  # parsed once, not per generation batch
        self.trace_kwargs = dict(trace_kwargs or {})
        self.sizer = BatchSizer(self, batch_size, max_batch_size)
        layout = self._layout = Layout.of(module)  # names and local weights only: every read and edit goes through envoys
        names = {id(m): n for n, m in module.named_modules()}
        self._blocks = [self._envoy(names[id(b)]) for b in layout.blocks]
        self._mlps = [self._envoy(names[id(layout.mlp(i + 1))]) for i in range(layout.num_layers)]
        self._downs = [self._envoy(names[id(layout.mlp_down(i + 1))]) for i in range(layout.num_layers)]
        self._engine: Any = None
        self._fingerprint: str | None = None

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def from_model(cls, model: Any, tokenizer: Any, **kwargs: Any) -> NNsightAdapter:
        """Wrap an in-memory transformers model with nnsight (tests, the Python API)."""
        from nnsight.modeling.transformers import TransformersModel

        return cls(TransformersModel(model, tokenizer=tokenizer, task="text-generation"), tokenizer, **kwargs)

    def _envoy(self, name: str) -> Any:
        envoy = self.lm
        for part in name.split("."):
            envoy = envoy[int(part)] if part.isdigit() else getattr(envoy, part)
        return envoy

    # -- properties ------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self._module.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self._module.parameters()).dtype

    @property
    def num_layers(self) -> int:
        return len(self._blocks)

    @property
    def hidden_size(self) -> int:
        return int(self._module.config.hidden_size)

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = weights_fingerprint(self._module, self.tokenizer, ("nnsight", self.add_bos_token, self.max_length, str(self.decoding) if self.decoding else None))
        return self._fingerprint

    def eos_ids(self) -> set[int]:
        return eos_ids(self._module, self.tokenizer)

    def unembed(self, hidden: torch.Tensor, final_norm: bool = True) -> torch.Tensor:
        """Logits from residual states (optional final norm, LM head, soft-capping), on the local weights."""
        return self._layout.unembed(hidden, final_norm)

    def unembedder(self) -> Any:
        from harness.whitebox.unembed import Unembedder

        return Unembedder.from_layout(self._layout)

    def mlp_projection(self, layer: int) -> tuple[torch.Tensor, str]:
        return self._layout.mlp_projection(layer)

    def mlp_output_map(self, layer: int) -> Any:
        """What block ``layer`` does to its MLP output (site ``("mlp_out", layer)``) before adding
        it to the residual stream: a function of the output tensor (Gemma 2/3's post-MLP norm),
        or None where it is added unchanged (pre-norm blocks)."""
        return self._layout.mlp_output_norm(layer)

    def interchange_engine(self) -> Any:
        """Full forwards with an edit: nnsight has no cached partial re-run."""
        if self._engine is None:
            from harness.interventions.forward_engine import ForwardEngine

            self._engine = ForwardEngine(self)
        return self._engine

    # -- traced forwards -------------------------------------------------------------------
    def _site_envoy(self, site: Site) -> tuple[Any, bool]:
        if isinstance(site, tuple):
            kind, layer = site[0], int(site[1])
            if kind == "mlp_key":
                return self._downs[layer - 1], True
            return self._mlps[layer - 1], kind == "mlp_in"
        return (self._blocks[0], True) if site == 0 else (self._blocks[int(site) - 1], False)

    def _trace(self, sites: Sequence[Site], edits: dict, **inputs: Any) -> tuple[Any, dict]:
        """One traced forward: reads at ``sites`` and ``edits`` {site: [fn(h) -> h]} applied
        in execution order; returns the model output and {site: state}."""
        import nnsight

        wanted = set(sites)
        order = sorted(wanted | set(edits), key=_site_order)
        for site in order:
            self._layout.check_site(site)
        envoys = [self._site_envoy(s) for s in order]
        with self.lm.trace(**inputs, **self.trace_kwargs):
            read = {}
            for site, (envoy, is_input) in zip(order, envoys):
                value = envoy.input if is_input else envoy.output
                hidden = value[0] if isinstance(value, tuple) else value
                for fn in edits.get(site, ()):
                    hidden = fn(hidden)
                if site in edits:
                    new = (hidden, *value[1:]) if isinstance(value, tuple) else hidden
                    if is_input:
                        envoy.input = new
                    else:
                        envoy.output = new
                if site in wanted:
                    read[site] = hidden
            read = nnsight.save(read)
            output = nnsight.save(self.lm.output)
        return output, read

    def forward(self, texts: Sequence[str], sites: Sequence[Site] = (), interventions: Sequence[Intervention] = (), grad: bool = False) -> ForwardOutput:
        ids, mask, lengths = self.encode_batch(texts)
        return self.forward_ids(ids, mask, lengths, sites, interventions, grad)

    def forward_ids(self, ids: torch.Tensor, mask: torch.Tensor, lengths: Sequence[int] | None = None, sites: Sequence[Site] = (),
                    interventions: Sequence[Intervention] = (), grad: bool = False, past_key_values: Any = None, past_length: int = 0,
                    last_logits_only: bool = False, keep_cache: bool = False) -> ForwardOutput:
        """As :meth:`harness.models.hf.HFAdapter.forward_ids`, through one nnsight trace."""
        lengths = list(lengths) if lengths is not None else mask[:, past_length:].sum(-1).tolist()
        edits = intervention_edits(interventions, lengths)
        cached = past_key_values is not None or keep_cache
        inputs: dict[str, Any] = {"input_ids": ids, "attention_mask": mask, "use_cache": cached}
        if cached:
            inputs["position_ids"] = past_length + torch.arange(ids.shape[1], device=ids.device)[None, :].expand(ids.shape[0], -1)
            if past_key_values is not None:
                inputs["past_key_values"] = past_key_values
        if last_logits_only:
            inputs["logits_to_keep"] = 1
        ctx = contextlib.nullcontext() if grad else torch.no_grad()
        with ctx:
            out, states = self._trace(sites, edits, **inputs)
        return ForwardOutput(logits=out.logits, attention_mask=mask, lengths=lengths, states=dict(states),
                             cache=out.past_key_values if cached else None)

    def decode_step(self):
        """One decoding forward for the core decode loop, as a trace."""

        def step(ids, mask, positions, cache, sites):
            with torch.no_grad():
                out, states = self._trace(sites, {}, input_ids=ids, attention_mask=mask, position_ids=positions,
                                          past_key_values=cache, use_cache=True, logits_to_keep=1)
            return out.logits[:, -1, :], out.past_key_values, {s: h[:, -1:, :] for s, h in states.items()}

        return step

    @contextlib.contextmanager
    def weight_edits(self, editor: Any, edits: Sequence[Any]) -> Iterator[None]:
        """Snapshot the (local) weights, let ``editor`` change them, restore them on exit."""
        snapshot = {n: p.detach().clone() for n, p in self._module.named_parameters()}
        try:
            editor.apply(self, edits)
            yield
        finally:
            with torch.no_grad():
                for n, p in self._module.named_parameters():
                    p.copy_(snapshot[n])

    # -- scoring -----------------------------------------------------------------------------
    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest], progress: bool = False) -> list:
        from harness.models import scoring

        return scoring.loglikelihood(self, requests, share_context=False, progress=progress, plain=scoring.plain_batch_via_forward)

    def loglikelihood_rolling(self, requests: Sequence[RollingRequest], progress: bool = False) -> list[float]:
        from harness.models import scoring

        return scoring.loglikelihood_rolling(self, requests, progress=progress, plain=scoring.plain_batch_via_forward)

    # -- generation --------------------------------------------------------------------------
    def generate(self, requests: Sequence[GenerationRequest], progress: bool = False) -> list[GenerationResult]:
        """Group by settings, longest first, generate each batch; results in request order."""
        groups: dict[tuple, list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault(r.settings_key(), []).append(i)
        results: dict[int, GenerationResult] = {}
        for idx in groups.values():
            idx.sort(key=lambda i: (-len(requests[i].prompt), i))
            for i, res in zip(idx, run_batched(idx, self.sizer, lambda b: self._generate_batch([requests[i] for i in b]))):
                results[i] = res
        return [results[i] for i in range(len(requests))]  # every request is in one group

    def _left_padded(self, prompts: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        ids, mask = left_padded(prompts, self.pad_token_id)
        return ids.to(self.device), mask.to(self.device)

    def _generate_batch(self, reqs: Sequence[GenerationRequest]) -> list[GenerationResult]:
        req0 = reqs[0]
        budget = self.max_length - req0.max_new_tokens
        prompts = [p[-budget:] if budget > 0 else p for p in (self.tok_encode(r.prompt) for r in reqs)]
        decoding = req0.decoding or self.decoding
        if decoding and not DecodingSpec.parse(decoding).plain:
            return self._generate_with_rule(reqs, prompts, decoding)
        if req0.do_sample and len(reqs) > 1:  # one generator per request: sample them one at a time
            return [r for req, p in zip(reqs, prompts) for r in self._generate_batch([req])]
        ids, mask = self._left_padded(prompts)
        eos = self.eos_ids()
        from transformers import GenerationConfig

        # an explicit config: the checkpoint's own defaults (repetition penalties, sampling) never apply
        settings: dict[str, Any] = {"max_new_tokens": req0.max_new_tokens, "do_sample": req0.do_sample,
                                    "pad_token_id": self.pad_token_id, "eos_token_id": sorted(eos) or None}
        if req0.do_sample:
            settings.update(temperature=req0.temperature, top_p=req0.top_p)
            if req0.seed is not None:
                torch.manual_seed(req0.seed)
        tracker = StopTracker.for_requests(self.tokenizer, reqs, eos)
        with torch.no_grad():
            import nnsight

            with self.lm.generate(input_ids=ids, attention_mask=mask, generation_config=GenerationConfig(**settings), **self.trace_kwargs) as tracer:
                out = nnsight.save(tracer.result)
        new = out[:, ids.shape[1]:].tolist()  # rows that ended are padded: the tracker ignores what follows an end
        for step in range(len(new[0]) if new else 0):  # the core's stop and EOS bookkeeping
            if tracker.add([row[step] for row in new]):
                break
        return tracker.results()

    def _generate_with_rule(self, reqs: Sequence[GenerationRequest], prompts: list[list[int]], decoding: str | DecodingSpec) -> list[GenerationResult]:
        """Custom decoding rules (and ``decoding=greedy|sample``, which name no rule): the core
        decode loop, one trace per step."""
        from harness.models.decoding import make_rule
        from harness.whitebox.decode import Prefilled

        req0 = reqs[0]
        rule = make_rule(self, decoding, self.decoders)
        sites = tuple(getattr(rule, "sites", ())) if rule is not None and rule.needs_states else ()
        if rule is not None:
            rule.start(self, self.forward([r.prompt for r in reqs], sites=sites) if rule.needs_states else None)
        ids, mask = self._left_padded(prompts)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        with torch.no_grad():
            out, states = self._trace(sites, {}, input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True, logits_to_keep=1)
        first = Prefilled(out.past_key_values, mask, out.logits[:, -1, :], {s: h[:, -1:, :] for s, h in states.items()})
        pick = greedy if not req0.do_sample else sampler(req0.temperature, req0.top_p, [None] * len(reqs))
        tracker = StopTracker.for_requests(self.tokenizer, reqs, self.eos_ids())
        decode(self.decode_step(), first, tracker, req0.max_new_tokens, pick, rule.scores if rule is not None else None, sites)
        return tracker.results()


__all__ = ["CAPABILITIES", "NNsightAdapter"]
