"""The model-adapter protocol: typed requests and results, one interface for every backend.

Conventions shared by all methods:

* **Sites.** Residual-stream sites are numbered like transformers' ``hidden_states``:
  site 0 is the embedding output (the input of the first block), site ``l`` (1..L) is the
  output of block ``l``, *before* the final norm.
* **Positions** index each example's own (unpadded) tokens; negative positions count from
  that example's end (``-1`` = its last token). Padding never shifts them.
"""

from __future__ import annotations

import abc
import contextlib
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Protocol, Sequence

from harness.whitebox.capabilities import BLACK_BOX

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from harness.models.decoding_spec import DecodingSpec


class UnsupportedCapability(NotImplementedError):
    """The adapter cannot do this (e.g. hidden states of an API model)."""


# --- Requests and results ---------------------------------------------------------------


@dataclass(frozen=True)
class LoglikelihoodRequest:
    """log p(continuation | context); tokenised as lm-eval does (context+continuation together)."""

    context: str
    continuation: str


@dataclass(frozen=True)
class LoglikelihoodResult:
    logprob: float
    is_greedy: bool
    token_logprobs: tuple[float, ...] = ()
    tokens: tuple[int, ...] = ()  # continuation token ids


@dataclass(frozen=True)
class RollingRequest:
    """Log-likelihood of a whole text (perplexity-style), in disjoint max-length windows."""

    text: str


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    max_new_tokens: int = 64
    stop: tuple[str, ...] = ()
    do_sample: bool = False  # False: greedy
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None  # sampling seed, per request (its own generator, so batching keeps it)
    decoding: str | DecodingSpec | None = None  # a registered strategy: "activation,alpha=0.5,info_layer=16", parsed once

    def settings_key(self) -> tuple:
        """Requests with equal keys are generated in the same batches."""
        return (self.max_new_tokens, self.do_sample, self.temperature, self.top_p, self.decoding)


@dataclass(frozen=True)
class GenerationResult:
    text: str  # the continuation, cut before the first stop sequence
    finish_reason: str  # "stop" (a stop sequence), "eos", or "length"
    n_tokens: int


#: The one intervention signature: ``fn(h_base, h_source) -> new base state``, all (B, d) (or
#: (B, k, d) for k positions each). ``h_source`` is the edit's source tensor, or None when it
#: has none: typed ``Any`` so that a function of two tensors (the interchange engine's) serves.
InterventionFn = Callable[["torch.Tensor", Any], "torch.Tensor"]


@dataclass
class Intervention:
    """Edit the states at ``site`` (a residual site, or ("mlp_in"|"mlp_out", l)) and per-example
    ``positions`` during a forward: they become ``fn(h_base, source)``. Gradients flow through
    ``fn`` (for trainable interventions). The interchange engine takes the same ``fn``."""

    site: Any
    positions: Sequence[int] | Sequence[Sequence[int]] | torch.Tensor
    fn: InterventionFn
    source: torch.Tensor | None = None


@dataclass
class ForwardOutput:
    """Logits and (optionally) residual-stream states of one batch, right-padded."""

    logits: torch.Tensor  # (B, T, V)
    attention_mask: torch.Tensor  # (B, T)
    lengths: list[int]
    states: dict[Any, torch.Tensor] = field(default_factory=dict)  # site -> (B, T, d), pre-final-norm
    cache: Any = None  # the KV cache, when the forward continued one

    def at(self, positions: Sequence[int]) -> torch.Tensor:
        """Logits at one position per example (negative = from that example's end)."""
        import torch

        idx = torch.tensor([p if p >= 0 else n + p for p, n in zip(positions, self.lengths)], device=self.logits.device)
        return self.logits[torch.arange(len(idx), device=idx.device), idx]


class NextTokenRule(Protocol):
    """A custom decoding rule: turns the model's next-token logits into scores.

    ``start`` sees the prompt batch once (its forward with per-site states when ``needs_states``,
    else ``None``); ``scores`` is called every step with the step's logits (B, V) and states
    {site: (B, 1, d)}; the argmax (or a sample) of the returned scores is the next token.
    ``-inf`` excludes a token.
    """

    needs_states: bool

    def start(self, adapter: ModelAdapter, prompt: ForwardOutput | None) -> None: ...

    def scores(self, logits: torch.Tensor, states: dict[int, torch.Tensor], step: int) -> torch.Tensor: ...


class WeightEditor(Protocol):
    """A weight-editing method (ROME/MEMIT style) usable through :meth:`ModelAdapter.weight_edits`."""

    def apply(self, adapter: ModelAdapter, edits: Sequence[Any]) -> None:
        """Edit the adapter's weights in place for all ``edits`` at once."""


# --- The adapter --------------------------------------------------------------------------


class ModelAdapter(abc.ABC):
    """What benchmarks may ask of a model. Backends implement what they can, declare it in
    ``capabilities`` (the runner refuses tasks that need more), and raise
    :class:`UnsupportedCapability` for the rest. The names plugins may use are listed in
    :data:`harness.whitebox.protocol.PLUGIN_API`."""

    name: str = "model"
    #: What this backend can do (:class:`harness.whitebox.capabilities.Capability`).
    capabilities: frozenset = BLACK_BOX
    #: The decoding strategies ``decoding=NAME`` may name, by name (``DecoderSpec``s); empty
    #: until the runner (or a caller) passes the registry's with :meth:`use_decoders`.
    decoders: Mapping[str, Any] = MappingProxyType({})

    def use_decoders(self, decoders: Mapping[str, Any]) -> ModelAdapter:
        """Decode with these registered strategies (``Registry.decoders``); returns ``self``."""
        self.decoders = dict(decoders)
        return self

    @abc.abstractmethod
    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]: ...

    def loglikelihood_rolling(self, requests: Sequence[RollingRequest]) -> list[float]:
        raise UnsupportedCapability(f"{type(self).__name__} has no loglikelihood_rolling")

    @abc.abstractmethod
    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]: ...

    @abc.abstractmethod
    def fingerprint(self) -> str:
        """A stable hash of everything that changes outputs (weights, tokenizer, dtype)."""

    # White-box capabilities (transformers backend).
    def forward(self, texts: Sequence[str], sites: Sequence[int] = (), interventions: Sequence[Intervention] = (), grad: bool = False) -> ForwardOutput:
        raise UnsupportedCapability(f"{type(self).__name__} has no white-box forward")

    def hidden_states(self, texts: Sequence[str], sites: Sequence[int], positions: Sequence[int] | None = None) -> dict[int, torch.Tensor]:
        """Residual stream at ``sites``: (B, T, d) each, or (B, d) at one position per example."""
        out = self.forward(texts, sites=sites)
        if positions is None:
            return out.states
        import torch

        idx = torch.tensor([p if p >= 0 else n + p for p, n in zip(positions, out.lengths)])
        rows = torch.arange(len(idx))
        return {s: h[rows, idx] for s, h in out.states.items()}

    def run_with_interventions(self, texts: Sequence[str], interventions: Sequence[Intervention], sites: Sequence[int] = (), grad: bool = True) -> ForwardOutput:
        """A forward pass with ``interventions`` applied; hooks are always removed afterwards."""
        return self.forward(texts, sites=sites, interventions=interventions, grad=grad)

    @contextlib.contextmanager
    def weight_edits(self, editor: WeightEditor, edits: Sequence[Any]) -> Iterator[None]:
        """Apply ``editor``'s edits for the duration of the block, then restore the weights."""
        raise UnsupportedCapability(f"{type(self).__name__} cannot edit weights")
        yield  # pragma: no cover

    @property
    def num_layers(self) -> int:
        raise UnsupportedCapability(f"{type(self).__name__} exposes no layers")
