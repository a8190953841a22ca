"""MEMIT (Meng et al. 2023): many edits at once, the update spread over a span of MLP layers.

1. For each edit, a target z = h + delta for the residual stream after the span's last block
   L at the subject's last token (delta from :mod:`.values`, optimised at residual site L).
2. For each layer l of the span, in order, on the weights edited so far: keys K (n columns,
   ("mlp_key", l) averaged over prefixes), residuals R = Z - H_L (the current states at L),
   and the update spread over the layers still to come:

       W_l <- W_l + (R / (layers left)) K^T (lambda C_l + K K^T)^-1,   C_l = E[k k^T] over text.

Step 2 writes a residual-stream change into the MLP's output projection, which holds only
where the MLP output is added to the residual stream as it is (pre-norm blocks: Llama, GPT-2,
NeoX). Gemma 2/3 normalise it first (``post_feedforward_layernorm``); there the update does
not land where MEMIT puts it (on Gemma-3-270m it broke the model: docs, MQuAKE page), so
``apply`` measures this once per model and refuses such models unless
``allow_normalised_mlp: true``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from harness_plugins.mquake.editors.common import add_to_projection, check_edits, check_layers, default_span, ridge_solve
from harness_plugins.mquake.editors.covariance import second_moments
from harness_plugins.mquake.editors.requests import SampledPrefixes
from harness_plugins.mquake.editors.values import ValueConfig, Values, optimise_values, site_means


class MEMITEditor(SampledPrefixes):
    """``editor: harness_plugins.mquake.editors:MEMITEditor`` with ``editor_args`` below."""

    def __init__(self, layers: Sequence[int] | None = None, mom2_weight: float = 15000.0, n_prefixes: int = 5,
                 prefix_len: int = 10, steps: int = 20, lr: float = 0.5, kl_factor: float = 0.0625,
                 weight_decay: float = 0.5, clamp_norm: float = 0.75, cov_tokens: int = 20000, cov_max_len: int = 128,
                 ridge: float = 0.0, rows_per_batch: int = 48, cache_dir: str | None = None,
                 allow_normalised_mlp: bool = False):
        self.span = list(layers) if layers is not None else None
        self.mom2_weight = float(mom2_weight)
        self.n_prefixes, self.prefix_len = int(n_prefixes), int(prefix_len)
        self.values = ValueConfig(steps=int(steps), lr=float(lr), kl_factor=float(kl_factor),
                                  weight_decay=float(weight_decay), clamp_norm=float(clamp_norm))
        self.cov_tokens, self.cov_max_len, self.ridge = int(cov_tokens), int(cov_max_len), float(ridge)
        self.rows_per_batch = int(rows_per_batch)
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.allow_normalised_mlp = bool(allow_normalised_mlp)
        self.last_stats: dict[str, Any] = {}

    def layers(self, adapter: Any) -> list[int]:
        return check_layers(adapter, self.span if self.span is not None else default_span(adapter.num_layers))

    def apply(self, adapter: Any, edits: Sequence[Any]) -> None:
        check_edits(edits)
        if not edits:
            return
        layers = self.layers(adapter)
        if not self.allow_normalised_mlp:
            check_mlp_adds_to_residual(adapter, layers[0])
        prefixes = self.prefixes(adapter)
        covs = second_moments(adapter, layers, self.cov_tokens, self.cov_max_len, self.cache_dir)
        last = layers[-1]
        vals = self._chunked(adapter, edits, len(prefixes) + 1, lambda b: _values_rows(optimise_values(adapter, b, prefixes, last, self.values)))
        targets = torch.stack([v[0] + v[1] for v in vals])  # (n, d): z = h + delta
        for i, layer in enumerate(layers):
            sites = [("mlp_key", layer), last]
            means = self._chunked(adapter, edits, len(prefixes), lambda b: _rows(site_means(adapter, b, prefixes, sites), sites))
            keys = torch.stack([m[0] for m in means]).T  # (d_ff, n)
            resid = (targets - torch.stack([m[1] for m in means])).T / (len(layers) - i)  # (d, n)
            a = self.mom2_weight * covs[layer] + keys @ keys.T
            x = ridge_solve(a, keys, self.ridge)  # (d_ff, n)
            weight, orientation = adapter.mlp_projection(layer)
            add_to_projection(weight, orientation, resid @ x.T)
        self.last_stats = {"n_edits": len(edits), "layers": layers, "nll_before": [v[2] for v in vals], "nll_after_value": [v[3] for v in vals]}

    def _chunked(self, adapter: Any, edits: Sequence[Any], rows_per_edit: int, fn: Callable[[Sequence[Any]], list]) -> list:
        """``fn`` over chunks of edits of about ``rows_per_batch`` rows (the adapter's batching path)."""
        from harness.models.batching import run_batched

        return run_batched(list(edits), adapter.sizer, fn, cost=lambda b: len(b) * rows_per_edit, default=self.rows_per_batch)


_ADDS_TO_RESIDUAL: dict[tuple[str, int], float] = {}


def check_mlp_adds_to_residual(adapter: Any, layer: int, tolerance: float = 1e-3) -> None:
    """Raise unless adding v to block ``layer``'s MLP output changes the residual stream after
    the block by v (relative error <= ``tolerance``): MEMIT's update rule assumes it. Two short
    forwards, once per model fingerprint and layer."""
    from harness.models.base import Intervention

    key = (adapter.fingerprint(), int(layer))
    if key not in _ADDS_TO_RESIDUAL:
        text = ["The Eiffel Tower is in the city of"]
        base = adapter.forward(text, sites=[("mlp_out", layer), layer])
        m = base.states[("mlp_out", layer)][0, -1].float()
        gen = torch.Generator().manual_seed(0)
        v = torch.randn(m.shape[-1], generator=gen).to(m.device)
        v = v * (0.1 * m.norm().clamp(min=1e-3) / v.norm())
        iv = Intervention(("mlp_out", layer), [-1], lambda h, _s: h + v.to(h.dtype))
        moved = adapter.run_with_interventions(text, [iv], sites=[layer], grad=False)
        change = moved.states[layer][0, -1].float() - base.states[layer][0, -1].float()
        _ADDS_TO_RESIDUAL[key] = float((change - v).norm() / v.norm())
    err = _ADDS_TO_RESIDUAL[key]
    if err > tolerance:
        raise ValueError(
            f"MEMIT needs a model whose MLP output is added to the residual stream unchanged, but adding a vector "
            f"to block {layer}'s MLP output moved the residual stream after it by a different vector (relative error "
            f"{err:.2g}): this model normalises the MLP output before the residual sum (e.g. Gemma 2/3's "
            f"post_feedforward_layernorm), where MEMIT's update does not land as its rule assumes. Use ROMEEditor "
            f"(its value is optimised at the MLP output itself), or set editor_args allow_normalised_mlp: true to run it anyway")


def _values_rows(v: Values) -> list[tuple]:
    return [(v.base[i], v.delta[i], v.nll_before[i], v.nll_after[i]) for i in range(v.delta.shape[0])]


def _rows(means: dict[Any, torch.Tensor], sites: Sequence[Any]) -> list[tuple]:
    n = means[sites[0]].shape[0]
    return [tuple(means[s][i] for s in sites) for i in range(n)]
