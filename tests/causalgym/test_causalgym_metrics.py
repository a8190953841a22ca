"""CausalGym metrics recomputed by hand, and the paper's aggregation order."""

from __future__ import annotations

import math

import pytest
import torch

from harness_plugins.causalgym.metrics import interchange_accuracy, logodds_effect, summarize


def log_softmax_by_hand(row):
    z = math.log(sum(math.exp(v) for v in row))
    return [v - z for v in row]


def test_logodds_effect_on_two_pairs_by_hand():
    # vocab of 4; pair 0: y_b = 1, y_s = 2; pair 1: y_b = 3, y_s = 0
    clean = torch.tensor([[0.0, 2.0, 1.0, -1.0], [1.5, 0.0, 0.5, 2.5]])
    intervened = torch.tensor([[0.0, 0.5, 2.5, -1.0], [0.5, 0.0, 0.0, 3.0]])
    y_b, y_s = [1, 3], [2, 0]
    expected = []
    for i in range(2):
        li, lc = log_softmax_by_hand(intervened[i].tolist()), log_softmax_by_hand(clean[i].tolist())
        expected.append((li[y_s[i]] - li[y_b[i]]) - (lc[y_s[i]] - lc[y_b[i]]))
    got = logodds_effect(intervened, clean, y_b, y_s)
    assert got.tolist() == pytest.approx(expected, abs=1e-6)
    # pair 0: (2.5 - 0.5) - (1 - 2) = 3; pair 1: (0.5 - 3) - (1.5 - 2.5) = -1.5
    assert got.tolist() == pytest.approx([3.0, -1.5], abs=1e-6)
    assert got.mean().item() == pytest.approx(0.75, abs=1e-6)
    assert interchange_accuracy(intervened, y_b, y_s).tolist() == [True, False]


def test_summary_takes_max_over_positions_then_means_over_layers_and_tasks():
    cells = [
        {"task": "a", "method": "das", "site": 1, "span": 1, "logodds": 1.0},
        {"task": "a", "method": "das", "site": 1, "span": 2, "logodds": 3.0},  # max at site 1: 3
        {"task": "a", "method": "das", "site": 2, "span": 1, "logodds": -1.0},
        {"task": "a", "method": "das", "site": 2, "span": 2, "logodds": 0.0},  # max at site 2: 0 -> task a: 1.5
        {"task": "b", "method": "das", "site": 1, "span": 1, "logodds": 2.0},
        {"task": "b", "method": "das", "site": 2, "span": 1, "logodds": 4.0},  # task b: 3
        {"task": "b", "method": "das", "site": 2, "span": 2, "logodds": None},  # skipped cell
        {"task": "a", "method": "mean", "site": 1, "span": 1, "logodds": 0.5},
    ]
    s = summarize(cells, "logodds")
    assert s["curves"]["a"]["das"] == {1: 3.0, 2: 0.0}
    assert s["by_task"]["a"]["das"] == pytest.approx(1.5) and s["by_task"]["b"]["das"] == pytest.approx(3.0)
    assert s["by_method"] == {"das": pytest.approx(2.25), "mean": pytest.approx(0.5)}
