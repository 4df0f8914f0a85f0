"""A loopback fake of the GitHub REST API (under /api/v3, as GitHub Enterprise serves it) and the GitLab
REST API v4 (under /api/v4), answering the endpoints codemill uses with the shapes of their published
descriptions (github/rest-api-description's `pull-request`, `check-run`, `combined-commit-status`,
`pull-request-review`, `validation-error`; GitLab's merge request, approvals and users entities).

Repositories are real bare git repositories under `root/<owner>/<name>.git`: codemill pushes there, and a
pull request's head is what its branch holds there. Every request is recorded (method, path, headers, JSON
body, time). A test scripts faults with `fail_next` (a 403 secondary rate limit with retry-after, a 429, a
422), and moves pull requests along with `merge`, `close` and `set_checks`.

    with FakeForge(tmp_path / "forge", token="ghp_x") as forge:
        remote = forge.add_repo("octo/widgets", kind="github", seed=repo)
        ...  # codemill publish --forge-url forge.github_url ...
        assert forge.writes()[0].path == "/api/v3/repos/octo/widgets/pulls"
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

WRITES = {"POST", "PATCH", "PUT", "DELETE"}
DOCS = "https://docs.github.com/rest/pulls/pulls#create-a-pull-request"


@dataclass
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    at: float


@dataclass
class Fault:
    """A scripted answer for the next request matching `method` and `path` (a regex)."""

    method: str
    path: str
    status: int
    payload: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Repo:
    """One repository of the fake: kind, bare git directory, state, and its pull requests by number."""

    kind: str
    path: str
    git_dir: Path
    archived: bool = False
    default_branch: str = "main"
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)
    checks: dict[str, str] = field(default_factory=dict)  # head sha -> success | failure | pending
    users: set[str] = field(default_factory=set)  # who may be asked to review


class FakeForge:
    """The fake GitHub and GitLab, on 127.0.0.1 and an ephemeral port."""

    def __init__(self, root: Path, token: str) -> None:
        self.root = root
        self.token = token
        self.repos: dict[str, Repo] = {}
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        self.lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeForge:
        self._thread.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def github_url(self) -> str:
        return f"{self.url}/api/v3"

    @property
    def gitlab_url(self) -> str:
        return f"{self.url}/api/v4"

    # --- set up and script ---

    def add_repo(
        self,
        path: str,
        *,
        kind: str = "github",
        seed: Path | None = None,
        users: tuple[str, ...] = (),
    ) -> Path:
        """A bare repository `path` (pushed to from `seed`'s main when given); its git directory."""
        git_dir = self.root / f"{path}.git"
        git_dir.parent.mkdir(parents=True, exist_ok=True)
        _git(git_dir.parent, "init", "-q", "--bare", "-b", "main", str(git_dir))
        if seed is not None:
            _git(seed, "push", "-q", str(git_dir), "main:refs/heads/main")
        self.repos[path] = Repo(kind, path, git_dir, users=set(users))
        return git_dir

    def fail_next(self, method: str, path: str, status: int, payload: Any, **headers: str) -> None:
        """Answer the next `method` request whose path matches `path` with this status and body."""
        self.faults.append(Fault(method, path, status, payload, headers))

    def secondary_limit(
        self, method: str = "POST", path: str = r".*/pulls$", after: str = "1"
    ) -> None:
        """GitHub's secondary rate limit: 403 with retry-after and its documented message."""
        message = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
        self.fail_next(
            method,
            path,
            403,
            {"message": message, "documentation_url": DOCS},
            **{"retry-after": after},
        )

    def merge(self, repo: str, number: int) -> None:
        with self.lock:
            pull = self.repos[repo].pulls[number]
            if self.repos[repo].kind == "gitlab":
                pull.update(state="merged", merged_at=_now())
            else:
                pull.update(state="closed", merged=True, merged_at=_now())

    def close(self, repo: str, number: int) -> None:
        with self.lock:
            self.repos[repo].pulls[number].update(state="closed", closed_at=_now())

    def review(self, repo: str, number: int, login: str, state: str = "APPROVED") -> None:
        """`login` reviews the pull request: GitHub then drops them from its requested reviewers."""
        with self.lock:
            pull = self.repos[repo].pulls[number]
            pull.setdefault("_reviews", []).append({"user": {"login": login}, "state": state})
            pull["requested_reviewers"] = [
                u for u in pull["requested_reviewers"] if u["login"] != login
            ]

    def set_checks(self, repo: str, number: int, outcome: str) -> None:
        """The head commit's checks: success, failure or pending."""
        with self.lock:
            self.repos[repo].checks[self.head_sha(repo, number)] = outcome

    # --- reading what happened ---

    def writes(self) -> list[Recorded]:
        return [r for r in self.requests if r.method in WRITES]

    def open_pulls(self, repo: str) -> list[dict[str, Any]]:
        return [p for p in self.repos[repo].pulls.values() if p["state"] == "open"]

    def branch_head(self, repo: str, branch: str) -> str | None:
        out = _git(
            self.repos[repo].git_dir,
            "for-each-ref",
            "--format=%(objectname)",
            f"refs/heads/{branch}",
        )
        return out.strip() or None

    def head_sha(self, repo: str, number: int) -> str:
        pull = self.repos[repo].pulls[number]
        branch = pull["head"]["ref"] if "head" in pull else pull["source_branch"]
        return self.branch_head(repo, branch) or ""

    def handle(self, request: Recorded) -> tuple[int, Any, dict[str, str]]:
        """Record `request` and answer it: a scripted fault, a refused token, or the API's answer."""
        with self.lock:
            self.requests.append(request)
            for fault in self.faults:
                if fault.method == request.method and re.search(fault.path, request.path):
                    self.faults.remove(fault)
                    return fault.status, fault.payload, fault.headers
        if not self._authorized(request.headers):
            return 401, {"message": "Bad credentials", "documentation_url": DOCS}, {}
        with self.lock:
            if request.path.startswith("/api/v3/"):
                return _GitHubApi(self).answer(request)
            if request.path.startswith("/api/v4/"):
                return _GitLabApi(self).answer(request)
        return 404, {"message": "Not Found"}, {}

    def _authorized(self, headers: dict[str, str]) -> bool:
        given = headers.get("authorization", "").removeprefix("Bearer ")
        return self.token in (given, headers.get("private-token", ""))


class _GitHubApi:
    """GitHub's REST endpoints codemill calls, on the fake's state (called under its lock)."""

    def __init__(self, forge: FakeForge) -> None:
        self.forge = forge

    def answer(self, req: Recorded) -> tuple[int, Any, dict[str, str]]:
        match = re.match(r"^/api/v3/repos/([^/]+/[^/]+)(/.*)?$", req.path)
        repo = self.forge.repos.get(match[1]) if match else None
        if repo is None or repo.kind != "github":
            return 404, {"message": "Not Found", "documentation_url": DOCS}, {}
        rest = (match[2] if match else "") or ""
        for pattern, method, handler in self._routes():
            if method == req.method and (found := re.fullmatch(pattern, rest)):
                answered: tuple[int, Any, dict[str, str]] = handler(repo, req, *found.groups())
                return answered
        return 404, {"message": "Not Found", "documentation_url": DOCS}, {}

    def _routes(self) -> list[tuple[str, str, Any]]:
        return [
            ("", "GET", self.repository),
            ("/pulls", "GET", self.list_pulls),
            ("/pulls", "POST", self.create_pull),
            (r"/pulls/(\d+)", "GET", self.get_pull),
            (r"/pulls/(\d+)", "PATCH", self.update_pull),
            (r"/issues/(\d+)/labels", "POST", self.add_labels),
            (r"/issues/(\d+)/assignees", "POST", self.add_assignees),
            (r"/pulls/(\d+)/requested_reviewers", "POST", self.request_reviewers),
            (r"/pulls/(\d+)/reviews", "GET", self.reviews),
            (r"/commits/([0-9a-f]+)/check-runs", "GET", self.check_runs),
            (r"/commits/([0-9a-f]+)/status", "GET", self.status),
        ]

    def repository(self, repo: Repo, req: Recorded) -> tuple[int, Any, dict[str, str]]:
        owner, name = repo.path.split("/")
        return (
            200,
            {
                "id": 1,
                "name": name,
                "full_name": repo.path,
                "owner": {"login": owner},
                "archived": repo.archived,
                "default_branch": repo.default_branch,
                "permissions": {"admin": False, "push": True, "pull": True},
            },
            {},
        )

    def list_pulls(self, repo: Repo, req: Recorded) -> tuple[int, Any, dict[str, str]]:
        state = req.query.get("state", ["open"])[0]
        head = req.query.get("head", [""])[0].split(":")[-1]
        pulls = [
            self.shown(repo, p)
            for p in repo.pulls.values()
            if (state == "all" or p["state"] == state) and (not head or p["head"]["ref"] == head)
        ]
        per_page, page = (
            int(req.query.get("per_page", ["30"])[0]),
            int(req.query.get("page", ["1"])[0]),
        )
        return 200, pulls[(page - 1) * per_page : page * per_page], {}

    def create_pull(self, repo: Repo, req: Recorded) -> tuple[int, Any, dict[str, str]]:
        body, owner = req.body or {}, repo.path.split("/")[0]
        for name in ("title", "head", "base"):
            if not body.get(name):
                return 422, _invalid("missing_field", name, f"{name} is missing"), {}
        if self.forge.branch_head(repo.path, body["head"]) is None:
            return 422, _invalid("invalid", "head", f"head {body['head']} does not exist"), {}
        if any(
            p["state"] == "open" and p["head"]["ref"] == body["head"] for p in repo.pulls.values()
        ):
            message = f"A pull request already exists for {owner}:{body['head']}."
            return 422, _invalid("custom", None, message), {}
        if len(body.get("body") or "") > 65536:
            return (
                422,
                _invalid("custom", "body", "body is too long (maximum is 65536 characters)"),
                {},
            )
        number = len(repo.pulls) + 1
        repo.pulls[number] = {
            "number": number,
            "state": "open",
            "title": body["title"],
            "body": body.get("body"),
            "draft": bool(body.get("draft")),
            "merged": False,
            "merged_at": None,
            "closed_at": None,
            "head": {"ref": body["head"]},
            "base": {"ref": body["base"]},
            "labels": [],
            "assignees": [],
            "requested_reviewers": [],
            "requested_teams": [],
            "created_at": _now(),
        }
        return 201, self.shown(repo, repo.pulls[number]), {}

    def get_pull(self, repo: Repo, req: Recorded, number: str) -> tuple[int, Any, dict[str, str]]:
        pull = repo.pulls.get(int(number))
        return (200, self.shown(repo, pull), {}) if pull else (404, {"message": "Not Found"}, {})

    def update_pull(
        self, repo: Repo, req: Recorded, number: str
    ) -> tuple[int, Any, dict[str, str]]:
        pull = repo.pulls[int(number)]
        for name in ("title", "body", "state"):
            if name in (req.body or {}):
                pull[name] = req.body[name]
        if "base" in (req.body or {}):
            pull["base"] = {"ref": req.body["base"]}
        return 200, self.shown(repo, pull), {}

    def add_labels(self, repo: Repo, req: Recorded, number: str) -> tuple[int, Any, dict[str, str]]:
        pull = repo.pulls[int(number)]
        for name in (req.body or {}).get("labels", []):
            if name not in [x["name"] for x in pull["labels"]]:
                pull["labels"].append(
                    {"id": len(pull["labels"]) + 1, "name": name, "color": "ededed"}
                )
        return 200, pull["labels"], {}

    def add_assignees(
        self, repo: Repo, req: Recorded, number: str
    ) -> tuple[int, Any, dict[str, str]]:
        pull = repo.pulls[int(number)]
        for login in (req.body or {}).get("assignees", []):
            pull["assignees"].append({"login": login, "type": "User"})
        return 201, self.shown(repo, pull), {}

    def request_reviewers(
        self, repo: Repo, req: Recorded, number: str
    ) -> tuple[int, Any, dict[str, str]]:
        pull, body = repo.pulls[int(number)], req.body or {}
        unknown = [u for u in body.get("reviewers", []) if u not in repo.users]
        if unknown:
            message = (
                "Reviews may only be requested from collaborators. One or more of the users or "
                f"teams you specified is not a collaborator of the {repo.path} repository."
            )
            return 422, {"message": message, "documentation_url": DOCS}, {}
        pull["requested_reviewers"] += [
            {"login": u, "type": "User"} for u in body.get("reviewers", [])
        ]
        pull["requested_teams"] += [{"slug": t, "name": t} for t in body.get("team_reviewers", [])]
        return 201, self.shown(repo, pull), {}

    def reviews(self, repo: Repo, req: Recorded, number: str) -> tuple[int, Any, dict[str, str]]:
        pull = repo.pulls[int(number)]
        done = [{"id": n + 1, **r} for n, r in enumerate(pull.get("_reviews", []))]
        if pull.get("merged") and not done:
            done = [{"id": 1, "user": {"login": "reviewer"}, "state": "APPROVED"}]
        return 200, done, {}

    def check_runs(self, repo: Repo, req: Recorded, sha: str) -> tuple[int, Any, dict[str, str]]:
        outcome = repo.checks.get(sha, "success")
        run = {
            "id": 1,
            "name": "tests",
            "head_sha": sha,
            "status": "in_progress" if outcome == "pending" else "completed",
            "conclusion": None if outcome == "pending" else outcome,
        }
        return 200, {"total_count": 1, "check_runs": [run]}, {}

    def status(self, repo: Repo, req: Recorded, sha: str) -> tuple[int, Any, dict[str, str]]:
        return 200, {"state": "success", "sha": sha, "total_count": 0, "statuses": []}, {}

    def shown(self, repo: Repo, pull: dict[str, Any]) -> dict[str, Any]:
        """A pull request as GitHub shows it: head and base with their sha and repository, its URL."""
        owner = repo.path.split("/")[0]
        sha = self.forge.branch_head(repo.path, pull["head"]["ref"]) or "0" * 40
        base_repo = {"full_name": repo.path, "owner": {"login": owner}}
        conflicting = False
        return {
            **{k: v for k, v in pull.items() if not k.startswith("_")},
            "html_url": f"{self.forge.url}/{repo.path}/pull/{pull['number']}",
            "head": {"ref": pull["head"]["ref"], "sha": sha, "repo": base_repo},
            "base": {"ref": pull["base"]["ref"], "repo": base_repo},
            "mergeable": None if pull["state"] != "open" else not conflicting,
            "mergeable_state": "clean"
            if repo.checks.get(sha, "success") == "success"
            else "unstable",
        }


class _GitLabApi:
    """GitLab's REST v4 endpoints codemill calls, on the fake's state (called under its lock)."""

    def __init__(self, forge: FakeForge) -> None:
        self.forge = forge

    def answer(self, req: Recorded) -> tuple[int, Any, dict[str, str]]:
        if req.path == "/api/v4/users":
            name = req.query.get("username", [""])[0]
            known = any(name in r.users for r in self.forge.repos.values())
            return (
                200,
                ([{"id": _user_id(name), "username": name, "state": "active"}] if known else []),
                {},
            )
        match = re.match(r"^/api/v4/projects/([^/]+)(/.*)?$", req.path)
        repo = self.forge.repos.get(unquote(match[1])) if match else None
        if repo is None or repo.kind != "gitlab":
            return 404, {"message": "404 Project Not Found"}, {}
        rest = (match[2] if match else "") or ""
        if rest == "" and req.method == "GET":
            return (
                200,
                {
                    "id": 7,
                    "path_with_namespace": repo.path,
                    "archived": repo.archived,
                    "default_branch": repo.default_branch,
                },
                {},
            )
        if rest == "/merge_requests":
            return self.create(repo, req) if req.method == "POST" else self.listing(repo, req)
        found = re.fullmatch(r"/merge_requests/(\d+)(/approvals)?", rest)
        if found and (mr := repo.pulls.get(int(found[1]))) is not None:
            if found[2]:
                approved = [{"user": {"username": "reviewer"}}] if mr["state"] == "merged" else []
                return 200, {"approved": bool(approved), "approved_by": approved}, {}
            if req.method == "PUT":
                self.update(repo, mr, req.body or {})
            return 200, self.shown(repo, mr), {}
        return 404, {"message": "404 Not found"}, {}

    def listing(self, repo: Repo, req: Recorded) -> tuple[int, Any, dict[str, str]]:
        state, source = req.query.get("state", ["all"])[0], req.query.get("source_branch", [""])[0]
        mrs = [
            self.shown(repo, m)
            for m in repo.pulls.values()
            if (state == "all" or m["state"] == state)
            and (not source or m["source_branch"] == source)
        ]
        per_page, page = (
            int(req.query.get("per_page", ["20"])[0]),
            int(req.query.get("page", ["1"])[0]),
        )
        return 200, mrs[(page - 1) * per_page : page * per_page], {}

    def create(self, repo: Repo, req: Recorded) -> tuple[int, Any, dict[str, str]]:
        body = req.body or {}
        if not body.get("title") or not body.get("source_branch") or not body.get("target_branch"):
            return 400, {"error": "title, source_branch, target_branch are missing"}, {}
        for mr in repo.pulls.values():
            if mr["state"] == "opened" and mr["source_branch"] == body["source_branch"]:
                message = f"Another open merge request already exists for this source branch: !{mr['iid']}"
                return 409, {"message": [message]}, {}
        iid = len(repo.pulls) + 1
        repo.pulls[iid] = {
            "iid": iid,
            "state": "opened",
            "title": "",
            "description": "",
            "source_branch": body["source_branch"],
            "target_branch": "",
            "labels": [],
            "assignees": [],
            "reviewers": [],
            "created_at": _now(),
        }
        self.update(repo, repo.pulls[iid], body)
        return 201, self.shown(repo, repo.pulls[iid]), {}

    def update(self, repo: Repo, mr: dict[str, Any], body: dict[str, Any]) -> None:
        for name in ("title", "description", "target_branch"):
            if name in body:
                mr[name] = body[name]
        labels = [
            x
            for x in str(body.get("labels", "") + "," + body.get("add_labels", "")).split(",")
            if x
        ]
        mr["labels"] = list(dict.fromkeys([*mr["labels"], *labels]))
        names = {_user_id(u): u for r in self.forge.repos.values() for u in r.users}
        for field_name, key in (("assignee_ids", "assignees"), ("reviewer_ids", "reviewers")):
            if field_name in body:
                mr[key] = [{"id": i, "username": names[i]} for i in body[field_name]]

    def shown(self, repo: Repo, mr: dict[str, Any]) -> dict[str, Any]:
        sha = self.forge.branch_head(repo.path, mr["source_branch"]) or "0" * 40
        outcome = repo.checks.get(sha, "success")
        status = {"success": "success", "failure": "failed", "pending": "running"}[outcome]
        return {
            **mr,
            "web_url": f"{self.forge.url}/{repo.path}/-/merge_requests/{mr['iid']}",
            "sha": sha,
            "draft": mr["title"].startswith("Draft:"),
            "detailed_merge_status": "mergeable" if outcome == "success" else "ci_still_running",
            "head_pipeline": {"id": 1, "sha": sha, "status": status},
        }


def _invalid(code: str, field_name: str | None, message: str) -> dict[str, Any]:
    """GitHub's `validation-error` body."""
    error = {"resource": "PullRequest", "code": code, "message": message}
    if field_name:
        error["field"] = field_name
    return {"message": "Validation Failed", "errors": [error], "documentation_url": DOCS}


def _user_id(name: str) -> int:
    return sum(map(ord, name)) + 1000


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return done.stdout


def _handler(forge: FakeForge) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            headers = {k.lower(): v for k, v in self.headers.items()}
            request = Recorded(
                self.command, split.path, parse_qs(split.query), headers, body, time.monotonic()
            )
            status, payload, extra = forge.handle(request)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json; charset=utf-8")
            self.send_header("content-length", str(len(data)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
