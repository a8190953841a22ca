"""MEMIT (Meng et al. 2023): many edits at once, the update spread over a span of MLP layers.

1. For each edit, a target z = h + delta for the residual stream after the span's last block
   L at the subject's last token (delta from :mod:`.values`, optimised at residual site L).
2. For each layer l of the span, in order, on the weights edited so far: keys K (n columns,
   ("mlp_key", l) averaged over prefixes), residuals R = Z - H_L (the current states at L),
   and the update spread over the layers still to come:

       W_l <- W_l + (R / (layers left)) K^T (lambda C_l + K K^T)^-1,   C_l = E[k k^T] over text.

Step 2 writes a residual-stream change into the MLP's output projection, which holds as it
stands only where the MLP output is added to the residual stream unchanged (pre-norm blocks:
Llama, GPT-2, NeoX). Gemma 2/3 normalise it first (``post_feedforward_layernorm``), so a
change written there lands elsewhere (on Gemma-3-270m it broke the model). With
``mlp_norm: linearise`` (the default) each column of R is first carried back through the
block's norm, as the adapter reports it (``mlp_output_map``): the MLP-output change Δ with
map(m + Δ) - map(m) = r, by Gauss-Newton at the edit's MLP output m (pseudo-inverse steps: a
norm ignores the output's scale); for pre-norm blocks this is the identity and the rule is
the paper's. ``mlp_norm: ignore`` writes R into the MLP output as it is (the paper's rule
taken literally). Before editing, MEMIT checks through the adapter that the map predicts the
residual change and refuses a model where it does not.
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
                 mlp_norm: str = "linearise"):
        self.span = list(layers) if layers is not None else None
        self.mom2_weight = float(mom2_weight)
        self.n_prefixes, self.prefix_len = int(n_prefixes), int(prefix_len)
        self.values = ValueConfig(steps=int(steps), lr=float(lr), kl_factor=float(kl_factor),
                                  weight_decay=float(weight_decay), clamp_norm=float(clamp_norm))
        self.cov_tokens, self.cov_max_len, self.ridge = int(cov_tokens), int(cov_max_len), float(ridge)
        self.rows_per_batch = int(rows_per_batch)
        self.cache_dir = Path(cache_dir) if cache_dir else None
        if mlp_norm not in MLP_NORM_RULES:
            raise ValueError(f"MEMITEditor mlp_norm must be one of {', '.join(MLP_NORM_RULES)}, got {mlp_norm!r}")
        self.mlp_norm = mlp_norm
        self.last_stats: dict[str, Any] = {}

    def layers(self, adapter: Any) -> list[int]:
        return check_layers(adapter, self.span if self.span is not None else default_span(adapter.num_layers))

    def apply(self, adapter: Any, edits: Sequence[Any]) -> None:
        check_edits(edits)
        if not edits:
            return
        layers = self.layers(adapter)
        maps = {l: adapter.mlp_output_map(l) for l in layers}
        if self.mlp_norm == "linearise":
            for l in layers:
                check_mlp_output_map(adapter, l)
        prefixes = self.prefixes(adapter)
        covs = second_moments(adapter, layers, self.cov_tokens, self.cov_max_len, self.cache_dir)
        last = layers[-1]
        vals = self._chunked(adapter, edits, len(prefixes) + 1, lambda b: _values_rows(optimise_values(adapter, b, prefixes, last, self.values)))
        targets = torch.stack([v[0] + v[1] for v in vals])  # (n, d): z = h + delta
        landing: dict[int, float] = {}
        for i, layer in enumerate(layers):
            fn = maps[layer]
            sites = [("mlp_key", layer), last] + ([("mlp_out", layer)] if fn is not None else [])
            means = self._chunked(adapter, edits, len(prefixes), lambda b: _rows(site_means(adapter, b, prefixes, sites), sites))
            keys = torch.stack([m[0] for m in means]).T  # (d_ff, n)
            resid = (targets - torch.stack([m[1] for m in means])) / (len(layers) - i)  # (n, d)
            if fn is not None and self.mlp_norm == "linearise":  # the MLP-output change that puts resid there
                resid, landing[layer] = through_norm(fn, torch.stack([m[2] for m in means]), resid)
            elif fn is not None:  # written as it is: how far from resid it lands
                landing[layer] = landing_error(fn, torch.stack([m[2] for m in means]), resid, resid)
            a = self.mom2_weight * covs[layer] + keys @ keys.T
            x = ridge_solve(a, keys, self.ridge)  # (d_ff, n)
            weight, orientation = adapter.mlp_projection(layer)
            add_to_projection(weight, orientation, resid.T @ x.T)
        self.last_stats = {"n_edits": len(edits), "layers": layers, "nll_before": [v[2] for v in vals],
                           "nll_after_value": [v[3] for v in vals], "mlp_norm": self.mlp_norm,
                           "landing_error": landing}

    def _chunked(self, adapter: Any, edits: Sequence[Any], rows_per_edit: int, fn: Callable[[Sequence[Any]], list]) -> list:
        """``fn`` over chunks of edits of about ``rows_per_batch`` rows (the adapter's batching path)."""
        from harness.models.batching import run_batched

        return run_batched(list(edits), adapter.sizer, fn, cost=lambda b: len(b) * rows_per_edit, default=self.rows_per_batch)


MLP_NORM_RULES = ("linearise", "ignore")
_MAP_ERRORS: dict[tuple[str, int], float] = {}


def check_mlp_output_map(adapter: Any, layer: int, tolerance: float = 1e-3) -> None:
    """Raise unless the adapter's ``mlp_output_map`` predicts how adding v to block ``layer``'s
    MLP output moves the residual stream after it (relative error <= ``tolerance``): MEMIT
    relies on it. Two short forwards, once per model fingerprint and layer."""
    from harness.whitebox.mlp_map import mlp_edit_residual_change

    key = (adapter.fingerprint(), int(layer))
    fn = adapter.mlp_output_map(layer)
    if key not in _MAP_ERRORS:
        got, want = mlp_edit_residual_change(adapter, "The Eiffel Tower is in the city of", layer, scale=0.1, seed=0)
        _MAP_ERRORS[key] = float((got - want).norm() / want.norm().clamp(min=1e-12))
    err = _MAP_ERRORS[key]
    if err > tolerance:
        what = "added unchanged" if fn is None else "passed through the norm the adapter reports"
        raise ValueError(
            f"MEMIT writes residual-stream changes through block {layer}'s MLP output, but adding a vector there moved "
            f"the residual stream after the block by a different vector than if it were {what} (relative error "
            f"{err:.2g}): this model transforms its MLP output in a way the adapter's mlp_output_map does not describe. "
            f"Use ROMEEditor (its value is optimised at the MLP output itself), or set editor_args mlp_norm: ignore "
            f"to write the change into the MLP output as it is")


def through_norm(fn: Callable[[torch.Tensor], torch.Tensor], m: torch.Tensor, r: torch.Tensor,
                 iterations: int = 4, chunk: int = 64) -> tuple[torch.Tensor, float]:
    """Per row, the change d of the MLP output m with fn(m + d) - fn(m) = r (Gauss-Newton with
    pseudo-inverse steps), and the mean relative error left: ``(d (n, D), error)``."""
    from torch.func import jacrev, vmap

    out, errors = [], []
    with torch.no_grad():
        for start in range(0, m.shape[0], chunk):
            mm, rr = m[start:start + chunk].float(), r[start:start + chunk].float()
            base = fn(mm).float()
            d = torch.zeros_like(mm)
            for _ in range(iterations):
                gap = rr - (fn(mm + d).float() - base)
                jac = vmap(jacrev(lambda x: fn(x).float()))(mm + d)  # (c, D, D)
                d = d + (torch.linalg.pinv(jac.double(), rtol=1e-5) @ gap.double()[..., None])[..., 0].float()
            errors.append(landing_error(fn, mm, d, rr) * mm.shape[0])
            out.append(d)
    return torch.cat(out), sum(errors) / m.shape[0]


def landing_error(fn: Callable[[torch.Tensor], torch.Tensor], m: torch.Tensor, d: torch.Tensor, r: torch.Tensor) -> float:
    """Mean over rows of ||fn(m + d) - fn(m) - r|| / ||r||: how far from the wanted residual
    change r a change d of the MLP output lands."""
    with torch.no_grad():
        m = m.float()
        gap = r.float() - (fn(m + d.float()).float() - fn(m).float())
        return float((gap.norm(dim=-1) / r.float().norm(dim=-1).clamp(min=1e-12)).mean())


def _values_rows(v: Values) -> list[tuple]:
    return [(v.base[i], v.delta[i], v.nll_before[i], v.nll_after[i]) for i in range(v.delta.shape[0])]


def _rows(means: dict[Any, torch.Tensor], sites: Sequence[Any]) -> list[tuple]:
    n = means[sites[0]].shape[0]
    return [tuple(means[s][i] for s in sites) for i in range(n)]
