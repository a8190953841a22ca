"""ROME (Meng et al. 2022): a rank-one update of one MLP output projection per edit.

For an edit with key k* (the projection's input at the subject's last token, averaged over
context prefixes) and value v* = W k* + delta (delta from :mod:`.values`, at ("mlp_out", l)):

    W <- W + (v* - W k*) (C^-1 k*)^T / ((C^-1 k*)^T k*),   C = E[k k^T] over text.

Several edits are applied one after another, each on the already-edited weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch

from harness_plugins.mquake.editors.common import add_to_projection, check_edits, check_layers, default_layer, ridge_solve
from harness_plugins.mquake.editors.covariance import second_moments
from harness_plugins.mquake.editors.requests import SampledPrefixes
from harness_plugins.mquake.editors.values import ValueConfig, optimise_values, site_means


class ROMEEditor(SampledPrefixes):
    """``editor: harness_plugins.mquake.editors:ROMEEditor`` with ``editor_args`` below."""

    def __init__(self, layer: int | None = None, n_prefixes: int = 5, prefix_len: int = 10, steps: int = 20,
                 lr: float = 0.5, kl_factor: float = 0.0625, weight_decay: float = 0.5, clamp_norm: float = 4.0,
                 cov_tokens: int = 20000, cov_max_len: int = 128, ridge: float = 0.0, cache_dir: str | None = None):
        self.layer, self.n_prefixes, self.prefix_len = layer, int(n_prefixes), int(prefix_len)
        self.values = ValueConfig(steps=int(steps), lr=float(lr), kl_factor=float(kl_factor),
                                  weight_decay=float(weight_decay), clamp_norm=float(clamp_norm))
        self.cov_tokens, self.cov_max_len, self.ridge = int(cov_tokens), int(cov_max_len), float(ridge)
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.last_stats: list[dict[str, Any]] = []

    def layers(self, adapter: Any) -> list[int]:
        return check_layers(adapter, [self.layer if self.layer is not None else default_layer(adapter.num_layers)])

    def apply(self, adapter: Any, edits: Sequence[Any]) -> None:
        check_edits(edits)
        (layer,) = self.layers(adapter)
        prefixes = self.prefixes(adapter)
        cov = second_moments(adapter, [layer], self.cov_tokens, self.cov_max_len, self.cache_dir)[layer]
        weight, orientation = adapter.mlp_projection(layer)
        self.last_stats = []
        for edit in edits:
            key = site_means(adapter, [edit], prefixes, [("mlp_key", layer)])[("mlp_key", layer)][0]
            vals = optimise_values(adapter, [edit], prefixes, ("mlp_out", layer), self.values)
            u = ridge_solve(cov, key[:, None], self.ridge)[:, 0]  # C^-1 k*
            update = torch.outer(vals.delta[0], u) / torch.dot(u, key)  # (v* - W k*) u^T / (u^T k*)
            add_to_projection(weight, orientation, update)
            self.last_stats.append({"nll_before": vals.nll_before[0], "nll_after_value": vals.nll_after[0], "steps": vals.steps[0]})
