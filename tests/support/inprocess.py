"""The `codemill` command in-process (Typer's runner), isolated: no key, no Prefect API, state and caches
under the test's tmp dir."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner


def isolated_runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str) -> CliRunner:
    """A CliRunner whose runs see no API key and no Prefect API, keep their state, caches and Prefect
    home under `tmp_path`, and see `env` besides."""
    for name in ("AIMLAPI_API_KEY", "PREFECT_API_URL", "PREFECT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.setenv("CODEMILL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return CliRunner()
