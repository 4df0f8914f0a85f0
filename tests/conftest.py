"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.fake_model_server import FakeModelServer


@pytest.fixture
def fake_model() -> Iterator[FakeModelServer]:
    """A loopback fake OpenAI-compatible model server; script it with `enqueue` or `.handler`."""
    with FakeModelServer() as server:
        yield server


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real Prefect server on 127.0.0.1 for the session; its API URL."""
    from support.prefect_server import prefect_server

    with prefect_server(tmp_path_factory.mktemp("prefect-home")) as url:
        yield url
