"""Fixtures shared by the Python tests."""

import pytest

from serving import serve


@pytest.fixture(scope="module")
def server():
    """One `tributary serve` per test module."""
    with serve() as target:
        yield target
