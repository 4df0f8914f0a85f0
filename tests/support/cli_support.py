"""Running the real `codemill` command in a subprocess, as a user would, against a test's Prefect server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

CODEMILL = str(Path(sys.executable).parent / "codemill")
# A keyed run of a recipe with codemods is a hybrid run by default; these tests ask for the model for every
# chunk, as `--engine llm` does (a flag given still wins).
LLM = {"CODEMILL_ENGINE": "llm"}


@dataclass
class CliEnv:
    """Where a test's runs keep their state, and the environment the command sees."""

    home: Path
    env: dict[str, str]

    @property
    def state_dir(self) -> Path:
        return self.home / "state"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"


def make_cli_env(home: Path, prefect_api: str | None) -> CliEnv:
    """A clean environment: no API key, caches and reports under `home`, the given Prefect API."""
    (home / "prefect").mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIMLAPI", "CODEMILL_"))}
    env.pop("PREFECT_API_URL", None)
    env.update(
        XDG_CACHE_HOME=str(home / "cache"),
        CODEMILL_STATE_DIR=str(home / "state"),
        PREFECT_HOME=str(home / "prefect"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        # the default test gate (a pytest suite found in the repository) is tested in tests/gates;
        # elsewhere it would only add pytest runs (the example's suite: ~+60% on the recipe tests)
        CODEMILL_NO_TEST_GATE="1",
    )
    if prefect_api is not None:
        env["PREFECT_API_URL"] = prefect_api
    return CliEnv(home, env)


def codemill(
    cli: CliEnv,
    *args: str,
    cwd: Path,
    extra_env: Mapping[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run `codemill ARGS` with no standard input; the completed process (never raises on exit code)."""
    env = {**cli.env, **(extra_env or {})}
    return subprocess.run(
        [CODEMILL, *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
