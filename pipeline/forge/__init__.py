"""Pull requests on the forges: GitHub and GitLab clients over httpx, the remote's forge repository,
CODEOWNERS, and the one write throttle every forge write goes through."""

from __future__ import annotations

from typing import Any

from pipeline.forge.base import Forge, PullRef, PullSpec, PullStatus
from pipeline.forge.errors import ForgeError, ForgeUsageError
from pipeline.forge.github import GitHub
from pipeline.forge.gitlab import GitLab
from pipeline.forge.remote import TOKEN_VARIABLES, ForgeRepo, detect
from pipeline.forge.throttle import WriteThrottle

__all__ = [
    "TOKEN_VARIABLES",
    "Forge",
    "ForgeError",
    "ForgeRepo",
    "ForgeUsageError",
    "PullRef",
    "PullSpec",
    "PullStatus",
    "WriteThrottle",
    "connect",
    "detect",
]


def connect(repo: ForgeRepo, token: str, throttle: WriteThrottle, **http: Any) -> Forge:
    """The client of `repo`'s forge, with `token` and every write through `throttle`."""
    if repo.kind == "gitlab":
        return GitLab(repo, token, throttle, **http)
    return GitHub(repo, token, throttle, **http)
