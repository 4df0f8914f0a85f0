"""Shared pytest fixtures, and the rule for what is slow.

`python -m pytest -q -m "not slow"` is the fast set (under 2 minutes): every test running the real `codemill`
command (tests/cli/) or needs a real Prefect server is marked slow here, so a new test of that kind is slow
without anyone remembering to mark it; Chromium tests and the full standard-library corpus carry the mark in
their own files.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.fake_model_server import FakeModelServer

CLI_TESTS = Path(__file__).parent / "cli"
SLOW_FIXTURES = frozenset({"prefect_api"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark slow every test that runs the real CLI (tests/cli/) or uses a real Prefect server; put the
    Prefect ones in one xdist group, so one worker runs them all against the one session server."""
    for item in items:
        in_cli = item.path.is_relative_to(CLI_TESTS)
        uses_prefect = bool(SLOW_FIXTURES & set(getattr(item, "fixturenames", ())))
        if in_cli or uses_prefect:
            item.add_marker(pytest.mark.slow)
        if uses_prefect:
            item.add_marker(pytest.mark.xdist_group("prefect"))


@pytest.fixture
def fake_model() -> Iterator[FakeModelServer]:
    """A loopback fake OpenAI-compatible model server; script it with `enqueue` or `.handler`."""
    with FakeModelServer() as server:
        yield server


# A server already running (scripts/mutations.py starts one for all its pytest runs): its URL and home.
RUNNING_API = "TESTS_PREFECT_API_URL"
RUNNING_HOME = "TESTS_PREFECT_HOME"


@pytest.fixture(scope="session")
def prefect_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session Prefect server's home: its SQLite database (prefect.db) and log live here."""
    if os.environ.get(RUNNING_HOME):
        return Path(os.environ[RUNNING_HOME])
    return tmp_path_factory.mktemp("prefect-home")


@pytest.fixture(scope="session")
def prefect_api(prefect_home: Path) -> Iterator[str]:
    """One real Prefect server on 127.0.0.1 for the session (or the running one named); its API URL."""
    if os.environ.get(RUNNING_API):
        yield os.environ[RUNNING_API]
        return
    from support.prefect_server import prefect_server

    with prefect_server(prefect_home) as url:
        yield url
