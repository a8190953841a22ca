"""Relative-top set, Jensen-Shannon divergence, DoLa contrast and candidate buckets."""

import math

import pytest
import torch
import torch.nn.functional as F
from scipy.spatial.distance import jensenshannon

from harness_plugins.activation_decoding.contrast import candidate_layers, dola_scores, js_divergence, relative_top_mask


def test_relative_top_mask_by_hand():
    probs = torch.tensor([0.5, 0.3, 0.06, 0.049, 0.091])
    keep = relative_top_mask(probs.log(), 0.1)  # threshold 0.05
    assert keep.tolist() == [True, True, True, False, True]
    assert relative_top_mask(probs.log(), 1.0).tolist() == [True, False, False, False, False]
    with pytest.raises(ValueError):
        relative_top_mask(probs.log(), 0.0)


def test_js_divergence_matches_scipy():
    torch.manual_seed(0)
    p = F.log_softmax(torch.randn(3, 10).double(), -1)
    q = F.log_softmax(torch.randn(3, 10).double(), -1)
    got = js_divergence(p, q)
    for i in range(3):
        ref = jensenshannon(p[i].exp().numpy(), q[i].exp().numpy()) ** 2  # natural-log JSD
        assert math.isclose(float(got[i]), ref, rel_tol=1e-9)


def test_dola_picks_the_most_distant_layer_and_contrasts():
    final = torch.tensor([[2.0, 1.0, 0.0]])
    near = final.clone()
    far = torch.tensor([[0.0, 1.0, 2.0]])
    diff, choice = dola_scores(final, torch.stack([near, far]))
    assert choice.tolist() == [1]
    expected = F.log_softmax(final, -1) - F.log_softmax(far, -1)
    assert torch.allclose(diff, expected)
    diff_post, _ = dola_scores(final, torch.stack([near, far]), post_softmax=True)
    assert torch.allclose(diff_post, F.log_softmax(expected, -1))


def test_candidate_buckets():
    assert candidate_layers("low", 30) == [0, 2, 4, 6, 8, 10, 12, 14]
    assert candidate_layers("low", 30, tied_embeddings=True) == [2, 4, 6, 8, 10, 12, 14]
    assert candidate_layers("high", 30) == [15, 17, 19, 21, 23, 25, 27, 29]
    assert candidate_layers("high", 48) == list(range(28, 48, 2))
    assert candidate_layers("0+3", 4) == [0, 3]
    assert candidate_layers("low", 3, tied_embeddings=True) == [2]
    with pytest.raises(ValueError, match="final layer"):
        candidate_layers("0+4", 4)
    with pytest.raises(ValueError, match="low"):
        candidate_layers("middle", 4)
