"""The target value of an edit: a vector added at a site at the subject's last token, found by
gradient descent (ROME's v*, MEMIT's z).

For each edit, ``delta`` (d_model) is added at ``site`` at the subject's last token of every
prefixed prompt; it minimises the target's negative log-likelihood averaged over prefixes, plus
``kl_factor`` x KL(unedited || edited) of the next token after ``"{subject} is a"`` (so the
subject's other properties move little), plus ``weight_decay`` x ||delta||^2 / ||h||^2; after
each step ``||delta||`` is clamped to ``clamp_norm`` x ||h|| (h = the unedited state there).
Edits are optimised independently (Adam is per-coordinate), so chunking them is exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch

from harness_plugins.mquake.editors.requests import Rows, build_rows, mean_by_owner, target_logprob


@dataclass(frozen=True)
class ValueConfig:
    steps: int = 20
    lr: float = 0.5
    kl_factor: float = 0.0625
    weight_decay: float = 0.5
    clamp_norm: float = 4.0
    stop_nll: float = 0.05  # stop once the mean target NLL is below this


@dataclass
class Values:
    delta: torch.Tensor  # (n, d) the optimised additions
    base: torch.Tensor  # (n, d) the unedited state at the site, averaged over prefixes
    nll_before: list[float]
    nll_after: list[float]
    steps: list[int]


def optimise_values(adapter: Any, edits: Sequence[Any], prefixes: Sequence[str], site: Any, cfg: ValueConfig) -> Values:
    """Optimise one delta per edit, for all ``edits`` together (chunk them outside if needed)."""
    rows = build_rows(adapter, edits, prefixes, essence=cfg.kl_factor > 0)
    n, dev = len(edits), adapter.device
    owner = rows.owner.to(dev)
    target_rows = [r for r in range(len(rows.lengths)) if not bool(rows.essence[r])]
    ess_rows = [r for r in range(len(rows.lengths)) if bool(rows.essence[r])]
    t_owner = owner[target_rows]
    out0 = adapter.forward_ids(rows.ids, rows.mask, rows.lengths, sites=[site])
    h = out0.states[site][torch.arange(len(rows.lengths), device=dev), rows.subject_pos.to(dev)].float()
    h_norm = h.norm(dim=-1)  # (N,)
    ref = _last_logprobs(out0.logits, rows, ess_rows)
    delta = torch.zeros(n, h.shape[-1], device=dev, requires_grad=True)
    opt = torch.optim.Adam([delta], lr=cfg.lr)
    nll_before = _per_edit(-target_logprob(out0.logits, rows, target_rows).detach(), t_owner, n)
    limit = cfg.clamp_norm * mean_by_owner(h_norm[:, None], owner, n)[:, 0]
    done = torch.zeros(n, dtype=torch.bool, device=dev)
    steps = [0] * n
    nll = nll_before
    for _ in range(cfg.steps):
        iv = _add_delta(site, rows, delta)
        out = adapter.forward_ids(rows.ids, rows.mask, rows.lengths, interventions=[iv], grad=True)
        nll = _per_edit(-target_logprob(out.logits, rows, target_rows), t_owner, n)
        loss = nll
        if ess_rows:
            new = _last_logprobs(out.logits, rows, ess_rows)
            kl = (ref.exp() * (ref - new)).sum(-1)
            loss = loss + cfg.kl_factor * _per_edit(kl, owner[ess_rows], n)
        base_sq = mean_by_owner((h_norm ** 2)[:, None], owner, n)[:, 0]
        loss = loss + cfg.weight_decay * (delta ** 2).sum(-1) / base_sq
        done = done | (nll.detach() < cfg.stop_nll)
        if bool(done.all()):
            break
        opt.zero_grad()
        (loss * (~done).float()).sum().backward()
        prev = delta.detach().clone()
        opt.step()
        with torch.no_grad():
            delta[done] = prev[done]  # finished edits stay put (Adam's momentum would move them)
            norms = delta.norm(dim=-1).clamp(min=1e-12)
            delta.mul_(torch.clamp(limit / norms, max=1.0)[:, None])
        for i in range(n):
            steps[i] += int(not bool(done[i]))
    with torch.no_grad():
        out = adapter.forward_ids(rows.ids, rows.mask, rows.lengths, interventions=[_add_delta(site, rows, delta.detach())])
        nll_after = _per_edit(-target_logprob(out.logits, rows, target_rows), t_owner, n)
    base = mean_by_owner(h[target_rows], t_owner, n)
    return Values(delta.detach(), base, nll_before.tolist(), nll_after.tolist(), steps)


def _add_delta(site: Any, rows: Rows, delta: torch.Tensor) -> Any:
    from harness.models.base import Intervention

    owner = rows.owner.to(delta.device)
    return Intervention(site, rows.subject_pos, lambda h, _src: h + delta[owner].to(h.dtype))


def _last_logprobs(logits: torch.Tensor, rows: Rows, row_index: Sequence[int]) -> torch.Tensor:
    if not row_index:
        return torch.empty(0)
    idx = torch.tensor(row_index, device=logits.device)
    last = torch.tensor([rows.lengths[r] - 1 for r in row_index], device=logits.device)
    return torch.log_softmax(logits[idx, last].float(), dim=-1)


def _per_edit(values: torch.Tensor, owner: torch.Tensor, n: int) -> torch.Tensor:
    return mean_by_owner(values[:, None], owner, n)[:, 0]


def site_means(adapter: Any, edits: Sequence[Any], prefixes: Sequence[str], sites: Sequence[Any]) -> dict[Any, torch.Tensor]:
    """Each site's state at the subject's last token, averaged over prefixes: ``{site: (n, d)}``
    (``("mlp_key", l)`` gives ROME/MEMIT's keys k*)."""
    rows = build_rows(adapter, edits, prefixes)
    out = adapter.forward_ids(rows.ids, rows.mask, rows.lengths, sites=list(sites), last_logits_only=True)
    dev = adapter.device
    at = (torch.arange(len(rows.lengths), device=dev), rows.subject_pos.to(dev))
    return {s: mean_by_owner(out.states[s][at].float(), rows.owner.to(dev), len(edits)) for s in sites}
