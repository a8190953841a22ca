"""Run these tests single-threaded: the shared ``single_thread`` fixture (tests/conftest.py), on
for every test of this folder."""

import pytest


@pytest.fixture(autouse=True)
def _single_thread(single_thread):
    yield
