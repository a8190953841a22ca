"""RAVEL test fixtures."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Tiny models are latency-bound: on a shared 2-core machine a second OpenMP thread makes
    each small matmul wait for a descheduled partner (~50x slower). Restored after each module."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_ravel_world(tmp_path_factory):
    """(adapter, folder): a tiny random Llama and a RAVEL city folder of what it 'knows'."""
    import torch

    from tiny_world import tiny_adapter, write_tiny_world

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ad = tiny_adapter()
        return ad, write_tiny_world(tmp_path_factory.mktemp("ravel-world"), ad)
    finally:
        torch.set_num_threads(before)
