"""`codemill publish`: a reviewed run's change pushed and proposed as pull requests, idempotently.

The run is replayed (every chunk proven again) and committed on its base without moving any local ref;
each group of files (one, unless split) goes to a stable branch `codemill/pr-<recipe>[-<group>]`. The
branch is pushed under a lease on the commit codemill pushed last: the same change is not pushed again,
a new one (a rerun, a moved base) replaces codemill's own commit, and a branch someone else pushed to is
left alone and reported `diverged`. Then the one pull request of the branch is opened, or updated.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from pipeline import repository
from pipeline.config import RunConfig, load_config
from pipeline.forge import PullSpec
from pipeline.publish.body import body_of, title_of
from pipeline.publish.groups import Group, group_files
from pipeline.publish.records import Published, load_published, save_published, save_run_published
from pipeline.publish.target import Target, code_owners, open_target
from pipeline.records.ledger import Ledger
from pipeline.run.replay import read_intact, replay
from pipeline.run.reviewed import refuse_partial
from pipeline.run.steps import CODEMOD_MODEL, repo_root

BRANCH_PREFIX = "codemill/"  # every codemill branch: the cap on open pull requests counts these


@dataclass(frozen=True)
class GroupOutcome:
    """What happened to one pull request: opened, updated, unchanged, diverged or held (the cap)."""

    branch: str
    action: str
    files: tuple[str, ...]
    url: str = ""


@dataclass
class PublishOutcome:
    """Every pull request of the run, and what the forge would not do (a reviewer it refused)."""

    run_id: str
    groups: list[GroupOutcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Change:
    """The run's proven change: its ledger, base commit, the files' new bytes and their owners."""

    ledger: Ledger
    base_commit: str
    after: Mapping[str, bytes]
    owners: Mapping[str, tuple[str, ...]]


def pr_branch(recipe: str, group: str) -> str:
    """The branch of a run's pull request: the same for every run of the recipe (and group)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", recipe).strip(".-") or "recipe"
    return f"{BRANCH_PREFIX}pr-{name}{f'-{group}' if group else ''}"


def publish_run(
    run_dir: Path,
    repo_path: Path,
    settings: Mapping[str, object],
    env: Mapping[str, str],
    *,
    partial: bool = False,
) -> PublishOutcome:
    """Publish the run in `run_dir` (its repository at `repo_path`) as the settings say."""
    config = load_config(repo_root([repo_path]), settings, env)
    return publish_config(run_dir, config, env, partial=partial)


def publish_config(
    run_dir: Path,
    config: RunConfig,
    env: Mapping[str, str],
    *,
    partial: bool = False,
    shared: Callable[[], None] | None = None,
) -> PublishOutcome:
    """Publish the run in `run_dir` of `config.repo` under `config`, every chunk proven again; `shared`
    is a write limit beyond this machine's (a fleet's Prefect rate limit), taken once per forge write."""
    again = replay(config.repo, read_intact(run_dir))
    refuse_partial(again.ledger, partial, "publish them")
    return publish_changes(run_dir, again, config, env, shared=shared)


class ProvenChange(Protocol):
    """A run's change proven again: the whole run (`Replay`) or a reviewer's selection of it."""

    @property
    def ledger(self) -> Ledger: ...
    @property
    def base_commit(self) -> str: ...
    @property
    def changes(self) -> Mapping[str, tuple[bytes, bytes]]: ...


def publish_changes(
    run_dir: Path,
    proven: ProvenChange,
    config: RunConfig,
    env: Mapping[str, str],
    *,
    shared: Callable[[], None] | None = None,
) -> PublishOutcome:
    """Push `proven` and open or update its pull requests; `published.json` in `run_dir` lists them."""
    outcome = PublishOutcome(proven.ledger.meta.run_id)
    if not proven.changes:
        return outcome
    repo = repository.open_repository(config.repo)
    target = open_target(repo, config, env, shared=shared)
    try:
        files = sorted(proven.changes)
        owners = code_owners(repo, proven.base_commit, target.where.kind, files)
        after = {path: new for path, (_, new) in proven.changes.items()}
        change = _Change(proven.ledger, proven.base_commit, after, owners)
        groups = group_files(files, owners, config.split_by, config.max_files_per_pr)
        records = []
        for group in groups:
            done, record = _publish_group(target, config, change, group, env)
            outcome.groups.append(done)
            records += [record] if record is not None else []
        outcome.notes += target.forge.notes
        if waits := target.forge.http.waits:
            outcome.notes.append(f"the forge asked to slow down {len(waits)} times; waited "
                                 f"{sum(waits):.0f} s in all and went on")  # fmt: skip
    finally:
        target.close()
    save_run_published(run_dir, records)
    return outcome


def _publish_group(
    target: Target, config: RunConfig, change: _Change, group: Group, env: Mapping[str, str]
) -> tuple[GroupOutcome, Published | None]:
    """One group's branch pushed and its pull request opened or updated; its record."""
    meta, forge, where = change.ledger.meta, target.forge, target.where
    branch = pr_branch(meta.recipe, group.name)
    pull = forge.find_pull(branch)
    if pull is None and forge.open_pull_count(BRANCH_PREFIX) >= config.max_open_prs:
        return GroupOutcome(branch, "held", group.files), None
    previous = load_published(env, where.api_url, where.path, branch)
    pushed = _push(target, config, change, group, branch, previous)
    if pushed is None:
        return GroupOutcome(branch, "diverged", group.files, pull.url if pull else ""), previous
    commit, digest, moved = pushed
    spec = _spec(config, change, group, branch, target)
    record = Published(where.kind, where.api_url, where.path, branch, pull.number if pull else 0,
                       "", commit, digest, change.base_commit, meta.run_id, group.files,
                       previous.asked if previous and pull else ())  # fmt: skip
    save_published(env, record)  # the push is on record before the forge is asked anything
    if pull is None:
        pull, action = forge.open_pull(spec), "opened"
    else:  # a reviewer asked once is not asked again (a review done drops them from the request);
        # the same change again leaves the words alone (a nightly rerun must not touch every one)
        fresh = replace(spec, reviewers=tuple(r for r in spec.reviewers if r not in record.asked),
                        words=moved)  # fmt: skip
        action = "updated" if forge.update_pull(pull, fresh) or moved else "unchanged"
    record = replace(record, number=pull.number, url=pull.url,
                     asked=tuple(dict.fromkeys([*record.asked, *spec.reviewers])))  # fmt: skip
    save_published(env, record)
    return GroupOutcome(branch, action, group.files, pull.url), record


def _push(
    target: Target,
    config: RunConfig,
    change: _Change,
    group: Group,
    branch: str,
    record: Published | None,
) -> tuple[str, str, bool] | None:
    """Push the group's commits unless the branch holds them already: (commit, fingerprint, pushed
    now); None when the branch holds a commit codemill did not push (someone else's: left alone)."""
    repo, meta = target.repo, change.ledger.meta
    files = {path: change.after[path] for path in group.files}
    digest = fingerprint(change.base_commit, config.commit_per, files)
    head = repository.remote_head(repo, target.remote, branch)
    if head is not None and (record is None or head != record.pushed):
        return None
    if record is not None and head == record.pushed and record.change == digest:
        return record.pushed, digest, False  # the same change: not even committed again
    trailers = repository.Trailers(meta.recipe, meta.model or CODEMOD_MODEL, meta.run_id)
    made = repository.make_commits(repo, change.base_commit, files, config.commit_per, trailers)
    repository.push_leased(repo, target.remote, made[-1], branch, head)
    return made[-1], digest, True


def _names(given: tuple[str, ...]) -> tuple[str, ...]:
    """Names as given, each comma-separated list split, each once (GitLab takes labels as one comma
    list: a label with a comma would never match what it stores)."""
    return tuple(dict.fromkeys(n.strip() for g in given for n in g.split(",") if n.strip()))


def fingerprint(base_commit: str, commit_per: str, files: Mapping[str, bytes]) -> str:
    """What a group's commits will hold, known without git: its base, how it is committed, and each
    file's blob id."""
    parts = [
        base_commit,
        commit_per,
        *(f"{p}\0{repository.blob_id(files[p])}" for p in sorted(files)),
    ]
    return hashlib.sha256("\n".join(parts).encode("utf-8", "surrogateescape")).hexdigest()


def _spec(
    config: RunConfig, change: _Change, group: Group, branch: str, target: Target
) -> PullSpec:
    owners = {path: change.owners.get(path, ()) for path in group.files}
    found = [o for path in group.files for o in owners[path]]
    reviewers = _names((*found, *(r.lstrip("@") for r in config.reviewers)))
    body = body_of(change.ledger, group.files, owners, target.forge.body_limit)
    return PullSpec(
        head=branch, base=target.base_branch, title=title_of(change.ledger, group.files, group.name),
        body=body, draft=config.draft, labels=_names(config.labels), reviewers=reviewers,
        assignees=_names(config.assignees),
    )  # fmt: skip
