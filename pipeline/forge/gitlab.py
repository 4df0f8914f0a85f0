"""GitLab's REST API v4 (gitlab.com and self-managed), the calls codemill makes: merge requests on one
project, through the same small httpx client, throttle and rate-limit handling as GitHub's."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from pipeline.forge.base import PullRef, PullSpec, PullState, PullStatus, check_summary
from pipeline.forge.errors import ForgeError
from pipeline.forge.http import ForgeHttp, ensure_ok
from pipeline.forge.remote import ForgeRepo
from pipeline.forge.throttle import WriteThrottle

BODY_LIMIT = 1_048_576  # characters: GitLab's limit on a merge request's description
DRAFT = "Draft: "


class GitLab:
    """One project on GitLab, through one token."""

    body_limit = BODY_LIMIT

    def __init__(self, repo: ForgeRepo, token: str, throttle: WriteThrottle, **http: Any) -> None:
        self.http = ForgeHttp(repo.api_url, {"PRIVATE-TOKEN": token}, token, throttle, **http)
        self.repo = repo
        self.root = f"/projects/{quote(repo.path, safe='')}"
        self.notes: list[str] = []
        self._user_ids: dict[str, int | None] = {}

    def close(self) -> None:
        self.http.close()

    def check_repository(self) -> str:
        answer = self.http.call("GET", self.root, f"reading {self.repo.path}")
        if answer.status == 404:
            raise ForgeError(
                f"project {self.repo.path} is not found on {self.repo.api_url}, or the token cannot "
                "see it; check --forge-repo and give the token the api scope"
            )
        data = answer.data or {}
        if data.get("archived"):
            raise ForgeError(f"project {self.repo.path} is archived; unarchive it or leave it out")
        return str(data.get("default_branch") or "main")

    def find_pull(self, head: str) -> PullRef | None:
        params = {"source_branch": head, "state": "opened"}
        url = f"{self.root}/merge_requests"
        answer = self.http.call("GET", url, "finding the merge request", params=params)
        found = [m for m in answer.data or [] if m["source_branch"] == head]
        return _ref(found[0]) if found else None

    def open_pull(self, spec: PullSpec) -> PullRef:
        payload: dict[str, Any] = {"source_branch": spec.head, "target_branch": spec.base,
                                   "title": _title(spec), "description": spec.body}  # fmt: skip
        payload.update(self._people(spec, PullRef(0, "", spec.head)))
        url = f"{self.root}/merge_requests"
        answer = self.http.call("POST", url, "opening the merge request", json=payload)
        if answer.status == 409 and (existing := self.find_pull(spec.head)) is not None:
            self.update_pull(existing, spec)
            return existing
        ensure_ok(answer, "opening the merge request")
        return _ref(answer.data)

    def update_pull(self, pull: PullRef, spec: PullSpec) -> bool:
        words = (("title", _title(spec)), ("description", spec.body)) if spec.words else ()
        now = {"title": pull.title, "description": pull.body, "target_branch": pull.base}
        wanted = (*words, ("target_branch", spec.base))
        changed: dict[str, Any] = {k: v for k, v in wanted if now[k] != v}
        changed.update(self._people(spec, pull))
        if changed:
            url = f"{self.root}/merge_requests/{pull.number}"
            ensure_ok(self.http.call("PUT", url, "updating the merge request", json=changed),
                      "updating the merge request")  # fmt: skip
        return bool(changed)

    def _people(self, spec: PullSpec, pull: PullRef) -> dict[str, Any]:
        """The labels, assignees and reviewers the merge request lacks, as GitLab takes them (ids)."""
        out: dict[str, Any] = {}
        if labels := [x for x in spec.labels if x not in pull.labels]:
            out["add_labels" if pull.number else "labels"] = ",".join(labels)
        for field, names, have in (("assignee_ids", spec.assignees, pull.assignees),
                                   ("reviewer_ids", spec.reviewers, pull.reviewers)):  # fmt: skip
            if [n for n in names if n not in have]:
                ids = [self._user_id(n) for n in dict.fromkeys([*have, *names])]
                out[field] = [i for i in ids if i is not None]
        return out

    def _user_id(self, username: str) -> int | None:
        """A user's id by name; a name GitLab does not know (a group) is a note, not a failure."""
        if username not in self._user_ids:
            params = {"username": username.lstrip("@")}
            users = self.http.call("GET", "/users", "finding a reviewer", params=params).data or []
            self._user_ids[username] = int(users[0]["id"]) if users else None
            if not users:
                self.notes.append(f"GitLab has no user {username}; not asked to review")
        return self._user_ids[username]

    def open_pull_count(self, prefix: str) -> int:
        count = 0
        for page in range(1, 100):
            params = {"state": "opened", "per_page": 100, "page": page}
            url = f"{self.root}/merge_requests"
            mrs = self.http.call("GET", url, "listing merge requests", params=params).data or []
            count += sum(1 for m in mrs if m["source_branch"].startswith(prefix))
            if len(mrs) < 100:
                break
        return count

    def pull_status(self, number: int) -> PullStatus:
        url = f"{self.root}/merge_requests/{number}"
        answer = self.http.call("GET", url, "reading the merge request")
        ensure_ok(answer, f"reading merge request !{number}")
        mr = answer.data
        pipeline = mr.get("head_pipeline") or {}
        checks = check_summary([pipeline["status"]] if pipeline.get("status") else [])
        approvals = self.http.call("GET", f"{url}/approvals", "reading approvals").data or {}
        approved = len(approvals.get("approved_by") or [])
        reviews = {"approved": approved} if approved else {}
        return PullStatus(number, mr["web_url"], _state(mr), checks, reviews, _mergeable(mr))


def _title(spec: PullSpec) -> str:
    return f"{DRAFT}{spec.title}" if spec.draft else spec.title


def _ref(mr: dict[str, Any]) -> PullRef:
    return PullRef(
        int(mr["iid"]),
        str(mr["web_url"]),
        str(mr["source_branch"]),
        str(mr["target_branch"]),
        str(mr.get("title") or ""),
        str(mr.get("description") or ""),
        frozenset(mr.get("labels") or []),
        frozenset(u["username"] for u in mr.get("reviewers") or []),
        frozenset(u["username"] for u in mr.get("assignees") or []),
    )


def _state(mr: dict[str, Any]) -> PullState:
    if mr["state"] == "merged":
        return "merged"
    if mr["state"] in ("closed", "locked"):
        return "closed"
    return "draft" if mr.get("draft") else "open"


def _mergeable(mr: dict[str, Any]) -> str:
    status = str(mr.get("detailed_merge_status") or "")
    if status == "mergeable":
        return "clean"
    if status in ("conflict", "need_rebase"):
        return "conflicting"
    return "unknown" if status in ("checking", "unchecked", "") else "blocked"
