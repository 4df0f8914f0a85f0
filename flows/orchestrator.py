"""Which orchestrator a run uses: `local` (in-process, no server) or `prefect` (tasks, artifacts, the UI).

`auto` picks Prefect only when a Prefect API is configured: `PREFECT_API_URL` in the environment, or in
the active profile of Prefect's profiles file. Both are read here without importing Prefect, so a local run
never pays for it. A Prefect run with no API would boot Prefect's temporary server (17 s here, its history
thrown away, an orphan after kill -9): codemill refuses that and says how to start a real one.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path

from pipeline.errors import UsageError

CHOICES = ("auto", "local", "prefect")
START_SERVER = (
    "run `prefect server start` in another shell, then "
    "`export PREFECT_API_URL=http://127.0.0.1:4200/api`"
)


class OrchestratorError(UsageError):
    """An orchestrator that cannot be used as asked; the message is one sentence."""


def _profiles_path(env: Mapping[str, str]) -> Path:
    explicit = env.get("PREFECT_PROFILES_PATH", "")
    if explicit:
        return Path(explicit).expanduser()
    home = env.get("PREFECT_HOME", "") or str(Path.home() / ".prefect")
    return Path(home).expanduser() / "profiles.toml"


def configured_api(env: Mapping[str, str]) -> str | None:
    """The Prefect API URL the environment or the active Prefect profile sets, if any."""
    url = env.get("PREFECT_API_URL", "").strip()
    if url:
        return url
    try:
        data = tomllib.loads(_profiles_path(env).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    active = env.get("PREFECT_PROFILE", "") or str(data.get("active", "ephemeral"))
    profile = data.get("profiles", {}).get(active, {})
    value = profile.get("PREFECT_API_URL") if isinstance(profile, dict) else None
    return (value.strip() or None) if isinstance(value, str) else None


def choose(requested: str, env: Mapping[str, str]) -> tuple[str, str]:
    """(orchestrator, why) for `--orchestrator auto|local|prefect`."""
    if requested not in CHOICES:
        raise OrchestratorError(f"--orchestrator {requested!r} must be one of {', '.join(CHOICES)}")
    api = configured_api(env)
    if requested == "local" or (requested == "auto" and api is None):
        why = "asked for" if requested == "local" else "no Prefect API configured"
        return "local", f"in-process, {why}"
    if api is None:
        raise OrchestratorError(f"--orchestrator prefect needs a Prefect API: {START_SERVER}")
    return "prefect", f"Prefect API {api}"


PREFECT_QUIET = {
    "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "CRITICAL",
    "PREFECT_SERVER_LOGGING_LEVEL": "CRITICAL",
    "PREFECT_INTERNAL_LOGGING_LEVEL": "CRITICAL",  # its background services' retries, every event
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
}


def quiet_prefect() -> None:
    """Before Prefect is first imported, for a command that uses it: its console quiet (the run prints
    its own progress; records still reach the API) and no telemetry. A value the user set wins."""
    import os

    for name, value in PREFECT_QUIET.items():
        os.environ.setdefault(name, value)
