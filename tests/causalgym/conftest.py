"""Run these tests single-threaded: tiny tensors gain nothing from threads, and on a busy
machine torch's thread pool spin-waits (measured here: 60x slower with 2 threads under load)."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _single_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
