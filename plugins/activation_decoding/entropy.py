"""In-context sharpness: the entropy over context positions of each vocabulary token.

For hidden states h_1..h_n of an info layer and the unembedding W_U (Chen et al., 2024):

    z_j = W_U h_j                        (logits of position j, one per vocabulary token v)
    p_j(v) = softmax over positions j of z_j[v]
    E(v) = -sum_j p_j(v) log p_j(v)

A token the context "activates" sharply (a few positions dominate its logit) has low E(v).

Memory: the logit table is n x V per prompt (V = 262k for Gemma), so E is computed in chunks
over the vocabulary; only the (B, V) result is ever materialised. The running statistics
(:class:`EntropyStats`) also let E be updated position by position as the context grows,
using E = log S - A / S with m = max_j z_j, S = sum_j e^(z_j - m), A = sum_j e^(z_j - m) (z_j - m),
which keeps every exponent <= 0 (no overflow, no cancellation against large logits).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch

#: Vocabulary columns per chunk: bounds the transient logit table to B x n x CHUNK floats.
DEFAULT_VOCAB_CHUNK = 8192


def position_entropy(z: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """E over the position axis (-2) of logits ``z`` (..., T, V) -> (..., V).

    ``mask`` (..., T) is True at real positions; masked positions get zero weight.
    """
    if mask is not None:
        z = z.masked_fill(~mask.bool().unsqueeze(-1), float("-inf"))
    m = z.amax(dim=-2, keepdim=True)
    shifted = z - m  # <= 0; -inf at masked positions
    w = shifted.exp()
    s = w.sum(dim=-2)
    a = (w * shifted.nan_to_num(neginf=0.0)).sum(dim=-2)
    return s.log() - a / s


@dataclass
class EntropyStats:
    """Running (m, S, A) per vocabulary token, so E can grow one position at a time."""

    m: torch.Tensor  # (B, V) max logit over positions seen
    s: torch.Tensor  # (B, V) sum exp(z - m)
    a: torch.Tensor  # (B, V) sum exp(z - m) * (z - m)

    def entropy(self) -> torch.Tensor:
        return self.s.log() - self.a / self.s

    def update(self, z: torch.Tensor, active: torch.Tensor | None = None) -> None:
        """Add one position's logits ``z`` (B, V); rows where ``active`` is False are left alone."""
        z = z.to(self.m.dtype)
        m_new = torch.maximum(self.m, z)
        decay = (self.m - m_new).exp()
        shift_new = z - m_new
        w_new = shift_new.exp()
        s = self.s * decay + w_new
        # the old terms' (z - m) grow by (m - m_new) when re-based on the new maximum
        a = decay * (self.a + (self.m - m_new) * self.s) + w_new * shift_new
        if active is not None:
            keep = ~active.bool().unsqueeze(-1)
            m_new = torch.where(keep, self.m, m_new)
            s = torch.where(keep, self.s, s)
            a = torch.where(keep, self.a, a)
        self.m, self.s, self.a = m_new, s, a


Unembed = Callable[[torch.Tensor, slice], torch.Tensor]


def context_entropy_stats(
    states: torch.Tensor,
    lengths: Sequence[int],
    unembed_chunk: Unembed,
    vocab_size: int,
    chunk_size: int = DEFAULT_VOCAB_CHUNK,
) -> EntropyStats:
    """Statistics of E for a right-padded batch ``states`` (B, T, d) of real ``lengths``.

    ``unembed_chunk(h, cols)`` maps (B, T, d) states to the logits of vocabulary ``cols``
    (B, T, len(cols)); only one chunk of the vocabulary is held at a time.
    """
    bsz, t, _ = states.shape
    if len(lengths) != bsz:
        raise ValueError(f"{len(lengths)} lengths for a batch of {bsz}")
    if any(n < 1 or n > t for n in lengths):
        raise ValueError(f"every length must be in 1..{t}, got {list(lengths)}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    mask = torch.arange(t, device=states.device)[None, :] < torch.tensor(list(lengths), device=states.device)[:, None]
    ms, ss, as_ = [], [], []
    for start in range(0, vocab_size, chunk_size):
        z = unembed_chunk(states, slice(start, min(start + chunk_size, vocab_size))).float()
        z = z.masked_fill(~mask.unsqueeze(-1), float("-inf"))
        m = z.amax(dim=1)
        shifted = z - m.unsqueeze(1)
        w = shifted.exp()
        ms.append(m)
        ss.append(w.sum(dim=1))
        as_.append((w * shifted.nan_to_num(neginf=0.0)).sum(dim=1))
    return EntropyStats(torch.cat(ms, -1), torch.cat(ss, -1), torch.cat(as_, -1))


def context_entropy(
    states: torch.Tensor,
    lengths: Sequence[int],
    unembed_chunk: Unembed,
    vocab_size: int,
    chunk_size: int = DEFAULT_VOCAB_CHUNK,
) -> torch.Tensor:
    """E(v) for every vocabulary token and every prompt of the batch: (B, V)."""
    return context_entropy_stats(states, lengths, unembed_chunk, vocab_size, chunk_size).entropy()


def token_entropy(states: torch.Tensor, token_rows: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """E of a few tokens only, over the n positions of one sequence.

    ``states`` (n, d) are already normalised if a final norm is wanted; ``token_rows`` (k,)
    are vocabulary ids. Costs n*k*d instead of n*V*d: what multiple-choice scoring needs.
    """
    z = states.float() @ weight[token_rows].float().T  # (n, k)
    if bias is not None:
        z = z + bias[token_rows].float()
    return position_entropy(z)
