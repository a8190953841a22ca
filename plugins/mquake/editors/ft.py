"""FT: constrained fine-tuning of one MLP output projection (MQuAKE's FT baseline; Zhu et al. 2020).

Adam on the target tokens' negative log-likelihood given each edit's cloze (all of the group's
edits in each step), and after every step the weight is clipped to an L-inf ball of radius
``linf`` around its original value, so no entry moves by more than ``linf``.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from harness_plugins.mquake.editors.common import check_edits, check_layers, default_layer
from harness_plugins.mquake.editors.requests import build_rows, target_logprob


class FTEditor:
    """``editor: harness_plugins.mquake.editors:FTEditor`` with ``editor_args`` below."""

    def __init__(self, layer: int | None = None, steps: int = 25, lr: float = 5e-4, linf: float = 5e-4,
                 edits_per_batch: int = 32, cache_dir: str | None = None):
        self.layer, self.steps, self.lr, self.linf = layer, int(steps), float(lr), float(linf)
        self.edits_per_batch = int(edits_per_batch)
        self.last_stats: dict[str, Any] = {}

    def layers(self, adapter: Any) -> list[int]:
        return check_layers(adapter, [self.layer if self.layer is not None else default_layer(adapter.num_layers)])

    def apply(self, adapter: Any, edits: Sequence[Any]) -> None:
        check_edits(edits)
        if not edits:
            return
        (layer,) = self.layers(adapter)
        weight, _ = adapter.mlp_projection(layer)
        original = weight.detach().clone()
        chunks = [build_rows(adapter, edits[i : i + self.edits_per_batch], [""]) for i in range(0, len(edits), self.edits_per_batch)]
        weight.requires_grad_(True)
        opt = torch.optim.Adam([weight], lr=self.lr)
        losses = []
        try:
            for _ in range(self.steps):
                opt.zero_grad()
                total = 0.0
                for rows in chunks:
                    out = adapter.forward_ids(rows.ids, rows.mask, rows.lengths, grad=True)
                    loss = -target_logprob(out.logits, rows, range(len(rows.lengths))).sum() / len(edits)
                    loss.backward()
                    total += float(loss.detach())
                losses.append(total)
                opt.step()
                with torch.no_grad():
                    weight.copy_(torch.maximum(torch.minimum(weight, original + self.linf), original - self.linf))
        finally:
            weight.requires_grad_(False)
            weight.grad = None
        self.last_stats = {"layer": layer, "nll_first": losses[0], "nll_last": losses[-1], "steps": len(losses)}
