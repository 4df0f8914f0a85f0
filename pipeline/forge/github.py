"""GitHub's REST API (github.com and Enterprise Server), the calls codemill makes: a small typed client
on httpx rather than PyGithub or githubkit, so every write goes through codemill's own throttle and
rate-limit handling and the token stays in one header (see pipeline/forge/http.py)."""

from __future__ import annotations

from typing import Any

from pipeline.forge.base import PullRef, PullSpec, PullState, PullStatus, check_summary
from pipeline.forge.errors import ForgeError
from pipeline.forge.http import ForgeHttp, ensure_ok, message_of
from pipeline.forge.remote import ForgeRepo
from pipeline.forge.throttle import WriteThrottle

BODY_LIMIT = 65_536  # characters: GitHub refuses a longer pull request body
HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}


class GitHub:
    """One repository on GitHub, through one token."""

    body_limit = BODY_LIMIT

    def __init__(self, repo: ForgeRepo, token: str, throttle: WriteThrottle, **http: Any) -> None:
        headers = {**HEADERS, "Authorization": f"Bearer {token}"}
        self.http = ForgeHttp(repo.api_url, headers, token, throttle, **http)
        self.repo = repo
        self.root = f"/repos/{repo.path}"
        self.notes: list[str] = []

    def close(self) -> None:
        self.http.close()

    def check_repository(self) -> str:
        answer = self.http.call("GET", self.root, f"reading {self.repo.path}")
        data = answer.data or {}
        if answer.status == 404:
            raise ForgeError(
                f"repository {self.repo.path} is not found on {self.repo.api_url}, or the token "
                "cannot see it; check --forge-repo and give the token the repo scope"
            )
        if data.get("archived"):
            raise ForgeError(
                f"repository {self.repo.path} is archived; unarchive it or leave it out"
            )
        if data.get("permissions", {}).get("push") is False:
            raise ForgeError(f"the token cannot push to {self.repo.path}; give it write access")
        return str(data.get("default_branch") or "main")

    def find_pull(self, head: str) -> PullRef | None:
        params = {"head": f"{self.repo.owner}:{head}", "state": "open"}
        answer = self.http.call(
            "GET", f"{self.root}/pulls", "finding the pull request", params=params
        )
        found = [p for p in answer.data or [] if p["head"]["ref"] == head]
        return _ref(found[0]) if found else None

    def open_pull(self, spec: PullSpec) -> PullRef:
        payload = {"title": spec.title, "head": spec.head, "base": spec.base, "body": spec.body,
                   "draft": spec.draft}  # fmt: skip
        answer = self.http.call(
            "POST", f"{self.root}/pulls", "opening the pull request", json=payload
        )
        if answer.status == 422 and "already exists" in message_of(answer):
            existing = self.find_pull(spec.head)
            if existing is not None:
                self.update_pull(existing, spec)
                return existing
        ensure_ok(answer, "opening the pull request")
        pull = _ref(answer.data)
        self._add_people(pull, spec)
        return pull

    def update_pull(self, pull: PullRef, spec: PullSpec) -> bool:
        wanted = (("title", spec.title), ("body", spec.body)) if spec.words else ()
        changed = {k: v for k, v in (*wanted, ("base", spec.base)) if getattr(pull, k) != v}
        if changed:
            url = f"{self.root}/pulls/{pull.number}"
            answer = self.http.call("PATCH", url, "updating the pull request", json=changed)
            ensure_ok(answer, "updating the pull request")
        return self._add_people(pull, spec) or bool(changed)

    def _add_people(self, pull: PullRef, spec: PullSpec) -> bool:
        """Labels, assignees and reviewers the pull request lacks; a reviewer GitHub refuses is a note."""
        issue, wrote = f"{self.root}/issues/{pull.number}", False
        if labels := [x for x in spec.labels if x not in pull.labels]:
            answer = self.http.call("POST", f"{issue}/labels", "labelling", json={"labels": labels})
            ensure_ok(answer, "labelling the pull request")
            wrote = True
        if assignees := [x for x in spec.assignees if x not in pull.assignees]:
            answer = self.http.call(
                "POST", f"{issue}/assignees", "assigning", json={"assignees": assignees}
            )
            ensure_ok(answer, "assigning the pull request")
            wrote = True
        if reviewers := [x for x in spec.reviewers if x not in pull.reviewers]:
            self._request_reviews(pull, reviewers)
            wrote = True
        return wrote

    def _request_reviews(self, pull: PullRef, reviewers: list[str]) -> None:
        users = [r for r in reviewers if "/" not in r]
        teams = [r.split("/", 1)[1] for r in reviewers if "/" in r]
        url = f"{self.root}/pulls/{pull.number}/requested_reviewers"
        payload = {"reviewers": users, "team_reviewers": teams}
        answer = self.http.call("POST", url, "requesting reviews", json=payload)
        if answer.status == 422:
            self.notes.append(f"GitHub would not ask {', '.join(reviewers)}: {message_of(answer)}")
        else:
            ensure_ok(answer, "requesting reviews")

    def open_pull_count(self, prefix: str) -> int:
        count = 0
        for page in range(1, 100):
            params = {"state": "open", "per_page": 100, "page": page}
            answer = self.http.call(
                "GET", f"{self.root}/pulls", "listing pull requests", params=params
            )
            pulls = answer.data or []
            count += sum(1 for p in pulls if p["head"]["ref"].startswith(prefix))
            if len(pulls) < 100:
                break
        return count

    def pull_status(self, number: int) -> PullStatus:
        answer = self.http.call("GET", f"{self.root}/pulls/{number}", "reading the pull request")
        ensure_ok(answer, f"reading pull request #{number}")
        pull = answer.data
        sha = pull["head"]["sha"]
        runs = self.http.call("GET", f"{self.root}/commits/{sha}/check-runs", "reading checks").data
        combined = self.http.call(
            "GET", f"{self.root}/commits/{sha}/status", "reading statuses"
        ).data
        outcomes = [
            r.get("conclusion") or r.get("status") for r in (runs or {}).get("check_runs", [])
        ]
        outcomes += [s["state"] for s in (combined or {}).get("statuses", [])]
        reviews = self.http.call(
            "GET", f"{self.root}/pulls/{number}/reviews", "reading reviews"
        ).data
        counts: dict[str, int] = {}
        for review in reviews or []:
            state = str(review.get("state", "")).lower()
            counts[state] = counts.get(state, 0) + 1
        return PullStatus(number, pull["html_url"], _state(pull), check_summary(outcomes), counts,
                          _mergeable(pull))  # fmt: skip


def _ref(pull: dict[str, Any]) -> PullRef:
    return PullRef(
        int(pull["number"]),
        str(pull["html_url"]),
        str(pull["head"]["ref"]),
        str(pull["base"]["ref"]),
        str(pull.get("title") or ""),
        str(pull.get("body") or ""),
        frozenset(label["name"] for label in pull.get("labels") or []),
        _reviewers(pull),
        frozenset(u["login"] for u in pull.get("assignees") or []),
    )


def _reviewers(pull: dict[str, Any]) -> frozenset[str]:
    """Who is asked to review already: users by login, teams as `org/slug` (as CODEOWNERS names them)."""
    org = pull["base"]["repo"]["owner"]["login"]
    users = {u["login"] for u in pull.get("requested_reviewers") or []}
    return frozenset(users | {f"{org}/{t['slug']}" for t in pull.get("requested_teams") or []})


def _state(pull: dict[str, Any]) -> PullState:
    if pull.get("merged") or pull.get("merged_at"):
        return "merged"
    if pull["state"] == "closed":
        return "closed"
    return "draft" if pull.get("draft") else "open"


def _mergeable(pull: dict[str, Any]) -> str:
    state = pull.get("mergeable_state")
    if pull.get("mergeable") is False or state == "dirty":
        return "conflicting"
    if state in ("blocked", "behind", "unstable"):
        return "blocked"
    return "clean" if state == "clean" else "unknown"
