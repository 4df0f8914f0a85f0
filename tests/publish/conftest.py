"""The publish tests' fixtures: the `codemill` command in-process with both forge tokens set, and a fake
forge (GitHub and GitLab) over loopback with real bare repositories."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from publishing import TOKEN
from support.fake_forge import FakeForge
from support.inprocess import isolated_runner
from typer.testing import CliRunner


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    return isolated_runner(monkeypatch, tmp_path, GITHUB_TOKEN=TOKEN, GITLAB_TOKEN=TOKEN)


@pytest.fixture
def forge(tmp_path: Path) -> Iterator[FakeForge]:
    with FakeForge(tmp_path / "forge", TOKEN) as server:
        yield server
