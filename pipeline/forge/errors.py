"""The forge's refusals, each one sentence that says what to do (exit 6, as a refused push: the change is
committed, and maybe pushed, but its pull request is not opened or updated)."""

from __future__ import annotations

from typing import ClassVar

from pipeline.errors import CodemillError, ExitCode


class ForgeError(CodemillError):
    """The forge refused or failed a request; the message says what to do about it."""

    exit_code: ClassVar[int] = ExitCode.PUSH_FAILED


class ForgeUsageError(ForgeError):
    """The forge cannot be chosen or reached as asked (no token, no repository in the remote's URL)."""

    exit_code: ClassVar[int] = ExitCode.USAGE


def explain(status: int, message: str, what: str) -> str:
    """One sentence for a refused forge request: what failed, why, and what to do."""
    lowered = message.lower()
    if status == 401:
        return f"{what}: the forge token is not valid; set a fresh token in the token variable"
    if "archived" in lowered:
        return f"{what}: the repository is archived; unarchive it or leave it out"
    if "protected" in lowered:
        return f"{what}: the branch is protected; publish to another branch or lift the protection"
    if status in (403, 404):
        return (
            f"{what}: the token lacks access (HTTP {status}); give it the repo scope "
            "(GitHub) or api scope (GitLab) on this repository"
        )
    return f"{what}: HTTP {status}: {message[:200]}"
