"""Next-token score transforms shared by generation and multiple-choice scoring.

* Relative-top set (Li et al., 2023; Chuang et al., 2024): the tokens with
  log p(v) >= max_v log p(v) + log(relative_top). Everything else is excluded.
* DoLa (Chuang et al., ICLR 2024): contrast the final layer with a premature layer,
  log p_final(v) - log p_premature(v), the premature layer chosen per position as the
  candidate with the largest Jensen-Shannon divergence from the final distribution.
  We compute the true JSD, 0.5 KL(p||m) + 0.5 KL(q||m), as the paper defines it; DoLa's
  released code averages KL(m||p) and KL(m||q) instead (torch's ``kl_div`` argument order),
  which can pick a different layer.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F


def relative_top_mask(logprobs: torch.Tensor, relative_top: float = 0.1) -> torch.Tensor:
    """True where a token is kept: log p >= max log p + log(relative_top) (the argmax always is)."""
    if not 0.0 < relative_top <= 1.0:
        raise ValueError(f"relative_top must be in (0, 1], got {relative_top}")
    thresh = logprobs.amax(dim=-1, keepdim=True) + math.log(relative_top)
    return logprobs >= thresh


def js_divergence(logp: torch.Tensor, logq: torch.Tensor) -> torch.Tensor:
    """Jensen-Shannon divergence (nats) between distributions given as log-probs, over the last
    axis; ``logp`` broadcasts against ``logq`` (one final distribution vs C candidates).

    Written as H(m) - (H(p) + H(q)) / 2 with m = (p + q) / 2: H(p) is computed once for all
    candidates, and each candidate costs one exp, one add and one x log x pass over the vocabulary.
    """
    p = logp.exp()
    neg_hp = (p * logp).nan_to_num_(nan=0.0).sum(-1)  # 0 * log 0 = 0 where a logit was -inf
    q = logq.exp()
    neg_hq = (q * logq).nan_to_num_(nan=0.0).sum(-1)
    m = q.add_(p).mul_(0.5)  # reuses q's buffer
    neg_hm = torch.special.xlogy(m, m).sum(-1)
    return 0.5 * (neg_hp + neg_hq) - neg_hm


def dola_select(final_logprobs: torch.Tensor, premature_logprobs: torch.Tensor) -> torch.Tensor:
    """Index (into the candidate axis 0) of the premature layer most unlike the final one.

    ``final_logprobs`` (..., V); ``premature_logprobs`` (C, ..., V) -> (...) long.
    """
    return js_divergence(final_logprobs.unsqueeze(0), premature_logprobs).argmax(dim=0)


def dola_scores(
    final_logits: torch.Tensor,
    premature_logits: torch.Tensor,
    post_softmax: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """DoLa's contrast log p_final - log p_premature (..., V) and the chosen candidate indices.

    ``premature_logits`` stacks the candidate layers' logits on axis 0: (C, ..., V); a float32
    tensor is overwritten with its log-softmax (it is usually a scratch buffer of the caller).
    ``post_softmax`` renormalises the contrast with a log-softmax (DoLa's multiple-choice code).
    """
    final_lp = F.log_softmax(final_logits.float(), dim=-1)
    prem = premature_logits.float()
    prem_lp = prem.sub_(prem.logsumexp(-1, keepdim=True))  # log-softmax in place (the caller's buffer)
    choice = dola_select(final_lp, prem_lp)
    picked = prem_lp.gather(0, choice.unsqueeze(0).unsqueeze(-1).expand(1, *prem_lp.shape[1:])).squeeze(0)
    diff = final_lp - picked
    if post_softmax:
        diff = F.log_softmax(diff, dim=-1)
    return diff, choice


def candidate_layers(spec: str | Sequence[int], num_layers: int, tied_embeddings: bool = False) -> list[int]:
    """Premature candidate sites: "low"/"high" buckets or explicit sites like "0+2+4".

    The buckets follow DoLa as shipped in transformers 4.x: for L <= 40 layers, low = every
    second site below L/2 and high = every second site from L/2 to L-1; deeper models use the
    first / last 20 sites. With tied embeddings site 0 is skipped (low starts at 2), because the
    early exit of the embedding layer through its own transpose is close to an identity map.
    """
    if isinstance(spec, str):
        key = spec.strip().lower()
        start = 2 if tied_embeddings else 0
        if key == "low":
            if start >= num_layers // 2:
                return [start]
            return list(range(start, num_layers // 2 if num_layers <= 40 else 20, 2))
        if key == "high":
            return list(range(num_layers // 2 if num_layers <= 40 else num_layers - 20, num_layers, 2))
        parts = [p for p in key.replace("+", " ").replace(";", " ").replace("/", " ").split() if p]
        try:
            spec = [int(p) for p in parts]
        except ValueError as err:
            raise ValueError(f"dola layers must be 'low', 'high' or site numbers like '0+2+4', got {spec!r}") from err
    layers = [int(x) for x in spec]
    bad = [x for x in layers if not 0 <= x < num_layers]
    if not layers or bad:
        raise ValueError(f"dola candidate layers must be sites in 0..{num_layers - 1} (the final layer {num_layers} is the mature one), got {layers}")
    return layers
