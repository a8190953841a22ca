"""Fixtures of the llm_usage tests."""

from __future__ import annotations

import pytest

from llm_usage_helpers import BernoulliWorld


@pytest.fixture(scope="session")
def world() -> BernoulliWorld:
    return BernoulliWorld()
