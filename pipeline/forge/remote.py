"""Which forge and which repository a push remote is: from its URL, or as the user says.

`https://github.com/octo/widgets.git`, `git@github.com:octo/widgets.git` and `ssh://git@host/group/sub/app`
all name a repository path on a host. GitHub's API is `https://api.github.com` (Enterprise: `--forge-url`,
e.g. `https://ghe.example.com/api/v3`); GitLab's is `https://HOST/api/v4`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pipeline.forge.errors import ForgeUsageError
from pipeline.redact import redact_url

ForgeKind = Literal["github", "gitlab"]
FORGES: tuple[ForgeKind, ...] = ("github", "gitlab")
TOKEN_VARIABLES: dict[ForgeKind, str] = {"github": "GITHUB_TOKEN", "gitlab": "GITLAB_TOKEN"}

_SCP = re.compile(r"^(?:[^@/]+@)?(?P<host>[^:/]+):(?P<path>[^/].*)$")  # git@host:owner/name.git
_URL = re.compile(r"^[a-z+]+://(?:[^@/]+@)?(?P<host>[^/:]+)(?::\d+)?/(?P<path>.+)$")


@dataclass(frozen=True)
class ForgeRepo:
    """One repository on one forge: its kind, its API's base URL and its path (`owner/name`)."""

    kind: ForgeKind
    api_url: str
    path: str

    @property
    def owner(self) -> str:
        return self.path.split("/")[0]


def host_and_path(remote_url: str) -> tuple[str, str]:
    """The host (empty for a local path) and the repository path of a remote URL, without `.git`."""
    match = _URL.match(remote_url) or _SCP.match(remote_url)
    host, path = (match["host"], match["path"]) if match else ("", remote_url)
    parts = [p for p in path.strip("/").removesuffix(".git").split("/") if p]
    if (
        not match
    ):  # a local path or file:// mirror: its last two parts, the forge's owner/name layout
        parts = parts[-2:]
    return host.lower(), "/".join(parts)


def detect(
    remote_url: str, *, kind: str | None = None, api_url: str | None = None, path: str | None = None
) -> ForgeRepo:
    """The forge repository behind `remote_url`; `kind`, `api_url` and `path` override what it says."""
    host, found = host_and_path(remote_url)
    chosen = kind or ("gitlab" if "gitlab" in host else "github")
    if chosen not in FORGES:
        raise ForgeUsageError(f"--forge must be github or gitlab, not {chosen!r}")
    repo_path = path or found
    if repo_path.count("/") < 1:
        raise ForgeUsageError(
            f"cannot tell the forge repository from the remote {redact_url(remote_url)!r}; "
            "name it with --forge-repo OWNER/NAME"
        )
    forge: ForgeKind = "gitlab" if chosen == "gitlab" else "github"
    return ForgeRepo(forge, (api_url or _default_api(forge, host)).rstrip("/"), repo_path)


def _default_api(kind: ForgeKind, host: str) -> str:
    if kind == "github":
        return "https://api.github.com" if host in ("github.com", "") else f"https://{host}/api/v3"
    return f"https://{host or 'gitlab.com'}/api/v4"
