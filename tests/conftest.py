"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fake_model_server import FakeModelServer


@pytest.fixture
def fake_model() -> Iterator[FakeModelServer]:
    """A loopback fake OpenAI-compatible model server; script it with `enqueue` or `.handler`."""
    with FakeModelServer() as server:
        yield server
