"""What a fleet remembers between its runs, under `<state_dir>/fleets/<fleet>-<hash>/`:

- `repos.json`: per repository, its last successful run's base commit, fingerprint (recipe and settings) and
  fleet run id. A repository whose base commit and fingerprint are both unchanged is skipped with that reason,
  and `--since last-run` means "the files changed since that base commit".
- `runs/<fleet-run-id>/journal.jsonl`: a start line, one line per repository as it finishes, an end line.
  A fleet run without its end line was stopped: the next fleet run of the same fleet and fingerprint resumes
  it, keeping the repositories it had finished and running the rest.

Both are written atomically or a whole line at a time, so a kill leaves the old record or the new one.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import UsageError
from pipeline.paths import append_private, private_dir, write_atomic
from pipeline.records.repo_result import RepoResult, RepoStatus

SUCCESS = frozenset({RepoStatus.CHANGED, RepoStatus.NO_CHANGE, RepoStatus.SAME_CHANGE})
JOURNAL = "journal.jsonl"


class FleetStateError(UsageError):
    """The fleet's memory cannot be read or written; the message is one sentence."""


@dataclass(frozen=True)
class Remembered:
    """A repository's last successful fleet run."""

    base_commit: str
    fingerprint: str
    fleet_run_id: str
    run_id: str
    branch: str | None = None


def fleet_dir(state_dir: Path, fleet_file: Path) -> Path:
    """`<state_dir>/fleets/<file stem>-<8 hex of its absolute path>`: one per fleet file."""
    path = fleet_file.resolve()
    digest = hashlib.sha256(os.fsencode(path)).hexdigest()[:8]
    return state_dir / "fleets" / f"{path.stem}-{digest}"


def fingerprint(recipe: str, recipe_text: str, settings: Mapping[str, Any], **more: Any) -> str:
    """sha256 over the recipe (name and text) and every setting the run gets: equal means same run."""
    payload = {
        "recipe": recipe,
        "recipe_sha": hashlib.sha256(recipe_text.encode("utf-8")).hexdigest(),
        "settings": dict(settings),
        **more,
    }
    blob = json.dumps(payload, sort_keys=True, default=str, ensure_ascii=True)
    return hashlib.sha256(blob.encode("ascii")).hexdigest()


def load_memory(directory: Path) -> dict[str, Remembered]:
    """Every repository's last success (empty for a new fleet); FleetStateError when unreadable."""
    path = directory / "repos.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise FleetStateError(f"{path} cannot be read ({exc}); delete it to start over") from None
    try:
        return {key: Remembered(**value) for key, value in data.items()}
    except (TypeError, AttributeError) as exc:
        raise FleetStateError(f"{path} is not a codemill fleet record ({exc})") from None


def remember(
    directory: Path, memory: dict[str, Remembered], result: RepoResult, fleet_run: str
) -> None:
    """Record a successful repository (others are left as they were) and write the file atomically."""
    if result.status not in SUCCESS or result.exit_code != 0:
        return
    memory[result.key] = Remembered(
        result.base_commit, result.fingerprint, fleet_run, result.run_id, result.branch
    )
    data = {key: asdict(value) for key, value in sorted(memory.items())}
    try:
        private_dir(directory)
        write_atomic(directory / "repos.json", (json.dumps(data, indent=2) + "\n").encode())
    except OSError as exc:
        raise FleetStateError(f"cannot write {directory / 'repos.json'}: {exc}") from None


def unchanged(last: Remembered | None, base_commit: str, fingerprint: str) -> str | None:
    """The skip reason when the repository is as its last successful fleet run left it, else None."""
    if last is None or last.base_commit != base_commit or last.fingerprint != fingerprint:
        return None
    return (
        f"unchanged since fleet run {last.fleet_run_id} "
        f"(base {base_commit[:12]}, same recipe and settings)"
    )


class Journal:
    """One fleet run's journal file: appended a line at a time, each line flushed and synced."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def start(self, fleet_run: str, fingerprint: str) -> None:
        private_dir(self.path.parent)
        self._append({"record": "start", "fleet_run": fleet_run, "fingerprint": fingerprint})

    def add(self, result: RepoResult) -> None:
        self._append({"record": "repo", **result.to_json()})

    def end(self, exit_code: int) -> None:
        self._append({"record": "end", "exit_code": exit_code})

    def _append(self, line: dict[str, Any]) -> None:
        try:
            with append_private(self.path) as handle:
                torn = handle.tell() > 0 and not _ends_with_newline(self.path)
                handle.write(("\n" if torn else "") + json.dumps(line, ensure_ascii=False) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise FleetStateError(f"cannot write the fleet journal {self.path}: {exc}") from None


def _ends_with_newline(path: Path) -> bool:
    """Whether the file's last byte is a newline (a kill mid-write leaves a torn last line)."""
    with path.open("rb") as raw:
        raw.seek(-1, os.SEEK_END)
        return raw.read(1) == b"\n"


@dataclass(frozen=True)
class Resumable:
    """A stopped fleet run: its id and the results of the repositories it finished."""

    fleet_run: str
    finished: dict[str, RepoResult]  # by repository key


def read_journal(path: Path) -> tuple[str, bool, list[RepoResult]]:
    """(fingerprint, ended, results) of a journal; a torn last line (a kill mid-write) is ignored."""
    fingerprint_, ended, results = "", False, []
    for raw in path.read_text(encoding="utf-8").splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        kind = line.pop("record", None)
        if kind == "start":
            fingerprint_ = str(line.get("fingerprint", ""))
        elif kind == "repo":
            results.append(RepoResult.from_json(line))
        elif kind == "end":
            ended = True
    return fingerprint_, ended, results


def resumable(directory: Path, fleet_fingerprint: str) -> Resumable | None:
    """The latest fleet run of this fleet if it was stopped with the same recipe and settings."""
    runs = directory / "runs"
    journals = sorted(runs.glob(f"*/{JOURNAL}")) if runs.is_dir() else []
    if not journals:
        return None
    latest = journals[-1]
    try:
        fingerprint_, ended, results = read_journal(latest)
    except (OSError, UnicodeDecodeError) as exc:
        raise FleetStateError(f"cannot read the fleet journal {latest}: {exc}") from None
    if ended or fingerprint_ != fleet_fingerprint:
        return None
    done = {r.key: r for r in results if r.finished}
    return Resumable(latest.parent.name, done)
