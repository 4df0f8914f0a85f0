"""What publishing leaves on record, under the state directory: per forge repository and branch, the
pull request and the commit codemill last pushed (a rerun pushes over that commit only); per run, the
pull requests it published (`published.json` in its report directory); and `codemill status` snapshots,
appended one JSON line each."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pipeline.paths import append_private, private_dir, state_dir, write_atomic

PUBLISHED_NAME = "published.json"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Published:
    """One pull request codemill published: where, from which branch, and what it pushed there."""

    forge: str
    api_url: str
    repo: str
    branch: str
    number: int
    url: str
    pushed: str  # the commit codemill last pushed to `branch`
    change: str  # the fingerprint of what it holds: the same change again is not pushed again
    base_commit: str  # the commit the change was made on
    run_id: str
    files: tuple[str, ...] = ()
    asked: tuple[str, ...] = ()  # the reviewers asked already: never asked again

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Published:
        lists = {name: tuple(data.get(name, ())) for name in ("files", "asked")}
        return cls(**{**data, **lists})


def repo_dir(env: Mapping[str, str], api_url: str, repo: str) -> Path:
    """<state>/publish/<api host and path>/<owner_name>/: one forge repository's records."""
    host = _UNSAFE.sub("_", api_url.split("://", 1)[-1]).strip("._") or "forge"
    return state_dir(env) / "publish" / host / (_UNSAFE.sub("_", repo).strip("._") or "repo")


def _branch_file(env: Mapping[str, str], api_url: str, repo: str, branch: str) -> Path:
    return repo_dir(env, api_url, repo) / f"{_UNSAFE.sub('_', branch)}.json"


def load_published(
    env: Mapping[str, str], api_url: str, repo: str, branch: str
) -> Published | None:
    """What codemill last published from `branch` of the forge repository; None when nothing (or a
    record that cannot be read: the branch is then treated as someone else's)."""
    path = _branch_file(env, api_url, repo, branch)
    try:
        return Published.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def save_published(env: Mapping[str, str], record: Published) -> None:
    path = _branch_file(env, record.api_url, record.repo, record.branch)
    private_dir(path.parent)
    write_atomic(path, json.dumps(asdict(record), indent=1).encode())


def save_run_published(run_dir: Path, records: list[Published]) -> None:
    """The run's pull requests, for `codemill status RUN_DIR`."""
    data = [asdict(r) for r in records]
    write_atomic(run_dir / PUBLISHED_NAME, json.dumps(data, indent=1).encode())


def run_published(run_dir: Path) -> list[Published]:
    """The pull requests a run published (none when it published none)."""
    path = run_dir / PUBLISHED_NAME
    if not path.is_file():
        return []
    return [Published.from_json(d) for d in json.loads(path.read_text(encoding="utf-8"))]


def append_snapshot(env: Mapping[str, str], snapshot: Mapping[str, Any]) -> None:
    """Add one status reading to <state>/publish/status.jsonl."""
    path = state_dir(env) / "publish" / "status.jsonl"
    private_dir(path.parent)
    with append_private(path) as out:
        out.write(json.dumps(snapshot, sort_keys=True) + "\n")


def snapshots(env: Mapping[str, str]) -> Iterator[dict[str, Any]]:
    """Every status reading stored, oldest first."""
    path = state_dir(env) / "publish" / "status.jsonl"
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                yield json.loads(line)
