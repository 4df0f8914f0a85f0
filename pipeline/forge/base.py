"""What codemill asks of a forge (the `Forge` protocol) and what it hands over and gets back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from pipeline.forge.http import ForgeHttp

PullState = Literal["open", "draft", "merged", "closed"]


@dataclass(frozen=True)
class PullSpec:
    """One pull request as codemill wants it: branch `head` into `base`, with its words and people."""

    head: str
    base: str
    title: str
    body: str
    draft: bool = False
    labels: tuple[str, ...] = ()
    reviewers: tuple[str, ...] = ()
    assignees: tuple[str, ...] = ()
    words: bool = True  # False: leave an open pull request's title and body as they are


@dataclass(frozen=True)
class PullRef:
    """An open pull request (merge request) as the forge shows it: number (iid), URL, and what it says
    now (people as sets: what is already there is not asked for again)."""

    number: int
    url: str
    head: str
    base: str = ""
    title: str = ""
    body: str = ""
    labels: frozenset[str] = frozenset()
    reviewers: frozenset[str] = frozenset()
    assignees: frozenset[str] = frozenset()


@dataclass(frozen=True)
class PullStatus:
    """A pull request's state, its checks, reviews and mergeability, as `codemill status` stores them."""

    number: int
    url: str
    state: PullState
    checks: str  # passing | failing | pending | none
    reviews: dict[str, int] = field(default_factory=dict)  # approved -> 2, changes_requested -> 1
    mergeable: str = "unknown"  # clean | conflicting | blocked | unknown


class Forge(Protocol):
    """A forge codemill publishes to (GitHub or GitLab): the few calls it makes, nothing more."""

    body_limit: int  # the longest description the forge keeps, in characters
    notes: list[str]  # what the forge would not do and the publish went on without (a reviewer)
    http: ForgeHttp  # its one client: `http.waits` are the rate-limit waits it sat out

    def check_repository(self) -> str:
        """The repository's default branch; raises ForgeError when it cannot take pull requests."""
        ...

    def find_pull(self, head: str) -> PullRef | None:
        """The open pull request from branch `head`, if there is one."""
        ...

    def open_pull(self, spec: PullSpec) -> PullRef:
        """Open the pull request (an already-open one for the branch is updated instead)."""
        ...

    def update_pull(self, pull: PullRef, spec: PullSpec) -> bool:
        """Bring an open pull request up to `spec`, writing only what differs; whether it wrote."""
        ...

    def open_pull_count(self, prefix: str) -> int:
        """How many open pull requests come from branches starting with `prefix`."""
        ...

    def pull_status(self, number: int) -> PullStatus:
        """The pull request's state, checks, reviews and mergeability now."""
        ...

    def close(self) -> None:
        """Let go of the HTTP client."""
        ...


def check_summary(conclusions: list[str]) -> str:
    """failing when any check failed, pending when any is not done, passing when all passed, else none."""
    if any(c in FAILED for c in conclusions):
        return "failing"
    if any(c in PENDING for c in conclusions):
        return "pending"
    return "passing" if conclusions else "none"


FAILED = frozenset(
    {"failure", "failed", "error", "timed_out", "cancelled", "canceled", "action_required"}
)
PENDING = frozenset(
    {"pending", "queued", "in_progress", "running", "created", "waiting", "preparing"}
)
