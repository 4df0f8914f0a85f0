"""The one way codemill runs git: one command, its exit status checked, its first error line kept.

Every git child runs with the user's hooks off (they assume a full checkout and a person at the
keyboard; codemill's own gates decide what is committed), with no terminal prompt, and in the
environment codemill gives its children (`pipeline.config.child_environment`).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from pipeline import config
from pipeline.redact import redact_text
from pipeline.repository.errors import GitOpsError

NO_HOOKS = {
    "GIT_CONFIG_COUNT": "1",
    "GIT_CONFIG_KEY_0": "core.hooksPath",
    "GIT_CONFIG_VALUE_0": os.devnull,
    "GIT_TERMINAL_PROMPT": "0",
}


def git_environment(**extra: str) -> dict[str, str]:
    """The environment of every git child: codemill's own less the model key (git's own credentials
    stay: a push or a private fetch needs them), hooks off, no prompt, plus `extra`."""
    return config.git_environment(**{**NO_HOOKS, **extra})


def run_git(
    cwd: str | os.PathLike[str],
    *args: str,
    stdin: bytes | None = None,
    env: Mapping[str, str] | None = None,
    error: type[GitOpsError] = GitOpsError,
    timeout: float | None = None,
) -> bytes:
    """Run `git ARGS` in `cwd`; its stdout, or `error` with git's own first error line (redacted)."""
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=Path(cwd),
            input=stdin if stdin is not None else b"",
            env=git_environment(**(env or {})),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise error(f"git {args[0]} took more than {timeout:.0f} s") from None
    if done.returncode != 0:
        lines = [ln.strip() for ln in done.stderr.decode(errors="replace").splitlines()]
        reason = next((ln for ln in lines if ln), f"exit status {done.returncode}")
        raise error(redact_text(f"git {args[0]} failed: {reason}"))
    return done.stdout


def git_succeeds(cwd: str | os.PathLike[str], *args: str) -> bool:
    """Whether `git ARGS` exits 0 (a question, not an operation: its output is dropped)."""
    try:
        run_git(cwd, *args)
    except GitOpsError:
        return False
    return True
