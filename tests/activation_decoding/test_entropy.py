"""E(v): brute force, masking, vocabulary chunking and incremental updates."""

import math

import pytest
import torch

from harness_plugins.activation_decoding.entropy import EntropyStats, context_entropy, context_entropy_stats, position_entropy, token_entropy


def brute_entropy(z: torch.Tensor) -> torch.Tensor:
    """-sum_j p_j log p_j with p = softmax over positions, written out in float64 loops."""
    n, vocab = z.shape
    out = torch.empty(vocab, dtype=torch.float64)
    for v in range(vocab):
        col = [float(z[j, v]) for j in range(n)]
        total = sum(math.exp(c) for c in col)
        ps = [math.exp(c) / total for c in col]
        out[v] = -sum(p * math.log(p) for p in ps if p > 0)
    return out


def test_position_entropy_matches_brute_force():
    torch.manual_seed(0)
    z = torch.randn(7, 11) * 3
    assert torch.allclose(position_entropy(z.double()), brute_entropy(z), atol=1e-10)


def test_uniform_and_one_hot_limits():
    n = 5
    assert torch.allclose(position_entropy(torch.zeros(n, 3)), torch.full((3,), math.log(n)), atol=1e-6)
    z = torch.full((n, 2), -50.0)
    z[2] = 50.0
    assert float(position_entropy(z).abs().max()) < 1e-6


def test_large_logits_are_stable():
    torch.manual_seed(1)
    z = torch.randn(9, 4) + 1000.0  # pre-norm residual states can give logits in the hundreds
    ref = position_entropy((z - 1000.0).double())  # E is shift-invariant over positions
    assert torch.allclose(position_entropy(z).double(), ref, atol=1e-4)


def test_mask_excludes_positions():
    torch.manual_seed(2)
    z = torch.randn(2, 6, 5)
    mask = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    got = position_entropy(z, mask)
    assert torch.allclose(got[0].double(), brute_entropy(z[0, :4]), atol=1e-5)
    assert torch.allclose(got[1].double(), brute_entropy(z[1]), atol=1e-5)


def _setup(bsz=3, t=8, d=6, vocab=37, seed=3):
    g = torch.Generator().manual_seed(seed)
    states = torch.randn(bsz, t, d, generator=g)
    weight = torch.randn(vocab, d, generator=g)
    bias = torch.randn(vocab, generator=g)
    return states, weight, bias


@pytest.mark.parametrize("chunk", [1, 5, 16, 37, 1000])
def test_chunked_equals_unchunked(chunk):
    states, weight, bias = _setup()
    lengths = [8, 5, 1]
    fn = lambda h, cols: h @ weight[cols].T + bias[cols]  # noqa: E731
    got = context_entropy(states, lengths, fn, weight.shape[0], chunk_size=chunk)
    for b, n in enumerate(lengths):
        full = states[b, :n] @ weight.T + bias
        assert torch.allclose(got[b].double(), brute_entropy(full), atol=1e-5)
    ref = context_entropy(states, lengths, fn, weight.shape[0], chunk_size=weight.shape[0])
    assert torch.allclose(got, ref, atol=1e-6)


def test_incremental_update_equals_recomputation():
    states, weight, bias = _setup(bsz=2, t=10)
    fn = lambda h, cols: h @ weight[cols].T + bias[cols]  # noqa: E731
    stats = context_entropy_stats(states[:, :4], [4, 4], fn, weight.shape[0], chunk_size=10)
    for j in range(4, 10):
        stats.update(states[:, j] @ weight.T + bias)
        ref = context_entropy(states[:, : j + 1], [j + 1, j + 1], fn, weight.shape[0])
        assert torch.allclose(stats.entropy(), ref, atol=1e-5)


def test_update_respects_inactive_rows():
    states, weight, _ = _setup(bsz=2, t=5)
    fn = lambda h, cols: h @ weight[cols].T  # noqa: E731
    stats = context_entropy_stats(states[:, :3], [3, 3], fn, weight.shape[0])
    before = stats.entropy().clone()
    stats.update(states[:, 3] @ weight.T, active=torch.tensor([True, False]))
    assert torch.allclose(stats.entropy()[1], before[1])
    assert not torch.allclose(stats.entropy()[0], before[0])


def test_token_entropy_is_a_column_subset():
    states, weight, bias = _setup(bsz=1, t=9)
    rows = torch.tensor([3, 0, 3, 30])
    got = token_entropy(states[0], rows, weight, bias)
    full = position_entropy(states[0] @ weight.T + bias)
    assert torch.allclose(got, full[rows], atol=1e-6)


def test_bad_lengths_are_reported():
    states, weight, _ = _setup()
    fn = lambda h, cols: h @ weight[cols].T  # noqa: E731
    with pytest.raises(ValueError, match="every length"):
        context_entropy(states, [8, 0, 3], fn, weight.shape[0])
    with pytest.raises(ValueError, match="lengths for a batch"):
        context_entropy(states, [8], fn, weight.shape[0])


def test_entropy_stats_dataclass_roundtrip():
    z = torch.randn(1, 4, 3)
    s = context_entropy_stats(z, [4], lambda h, cols: h[..., cols], 3)
    assert isinstance(s, EntropyStats) and s.m.shape == (1, 3)
    assert torch.allclose(s.entropy()[0], position_entropy(z[0]), atol=1e-6)
