"""`codemill status`: each published pull request read again from its forge (state, checks, reviews,
mergeability) and stored as one more snapshot in the state directory; the pull requests are those of
one run (its `published.json`), of a fleet file's repositories, or every one codemill has on record."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.fleet import memory
from pipeline.fleet.fleetfile import load_fleet
from pipeline.forge import Forge, ForgeRepo, WriteThrottle, connect
from pipeline.forge.remote import ForgeKind, host_and_path
from pipeline.paths import state_dir
from pipeline.publish.records import Published, append_snapshot, run_published
from pipeline.publish.target import token_of
from pipeline.records.repo_result import RepoResult
from pipeline.report.fleet import FleetRun, write_fleet_report


def records_for(target: Path | None, env: Mapping[str, str]) -> list[Published]:
    """The pull requests `target` names: a run directory's, a fleet file's repositories', or all."""
    if target is not None and target.is_dir():
        return run_published(target)
    every = [_read(p) for p in sorted((state_dir(env) / "publish").glob("*/*/*.json"))]
    known = [r for r in every if r is not None and r.number]
    if target is None:
        return known
    wanted = {host_and_path(entry.source)[1] for entry in load_fleet(target).entries}
    return [r for r in known if r.repo in wanted]


def _read(path: Path) -> Published | None:
    try:
        return Published.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def read_status(
    records: list[Published], env: Mapping[str, str], token_env: str | None = None
) -> list[dict[str, Any]]:
    """Each pull request's status now, stored as a snapshot (one `at` for the whole reading)."""
    at = datetime.now(UTC).isoformat(timespec="microseconds")  # one reading, one point
    clients: dict[tuple[str, str, str], Forge] = {}
    snapshots = []
    try:
        for record in records:
            key = (record.forge, record.api_url, record.repo)
            if key not in clients:
                where = ForgeRepo(_kind(record.forge), record.api_url, record.repo)
                token = token_of(env, where, token_env)
                clients[key] = connect(where, token, WriteThrottle())  # reads only
            status = clients[key].pull_status(record.number)
            snapshot = {"at": at, "repo": record.repo, "branch": record.branch,
                        "forge": record.forge, "run_id": record.run_id, **asdict(status)}  # fmt: skip
            append_snapshot(env, snapshot)
            snapshots.append(snapshot)
    finally:
        for client in clients.values():
            client.close()
    return snapshots


def _kind(name: str) -> ForgeKind:
    return "gitlab" if name == "gitlab" else "github"


def refresh_fleet_report(
    fleet_file: Path, readings: list[dict[str, Any]], env: Mapping[str, str]
) -> Path | None:
    """The fleet's latest report (fleet.html) written again with its pull requests' burndown and table;
    None when the fleet file has no run on record here."""
    runs = memory.fleet_dir(state_dir(env), load_fleet(fleet_file).path) / "runs"
    reports = sorted(runs.glob("*/fleet.json"), key=lambda p: p.stat().st_mtime)
    if not reports:
        return None
    data = json.loads(reports[-1].read_text(encoding="utf-8"))
    run = FleetRun(
        data["fleet_run"], data["recipe"], data["fleet_file"], data["started"], data["finished"],
        data["exit_code"], [RepoResult.from_json(r) for r in data["repos"]], pulls=readings,
    )  # fmt: skip
    return write_fleet_report(reports[-1].parent, run).html
