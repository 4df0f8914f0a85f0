"""Where a run's pull requests go: the push remote, its forge repository, the token and the client,
the base branch, and the code owners at the run's base commit."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pipeline import repository
from pipeline.config import RunConfig
from pipeline.forge import (
    TOKEN_VARIABLES,
    Forge,
    ForgeRepo,
    ForgeUsageError,
    WriteThrottle,
    connect,
    detect,
)
from pipeline.forge.codeowners import LOCATIONS, Rule, owners_of, parse
from pipeline.paths import state_dir

DEFAULT_REMOTE = "origin"
THROTTLE_NAME = "forge-writes.json"  # under the state directory: every codemill process shares it


@dataclass
class Target:
    """A run's publishing destination, opened: the forge client is closed with `close`."""

    repo: repository.Repository
    remote: str
    where: ForgeRepo
    forge: Forge
    base_branch: str

    def close(self) -> None:
        self.forge.close()


def token_of(env: Mapping[str, str], where: ForgeRepo, variable: str | None) -> str:
    """The forge token from the environment, and only from there."""
    name = variable or TOKEN_VARIABLES[where.kind]
    token = env.get(name, "").strip()
    if not token:
        raise ForgeUsageError(
            f"set {name} to a {where.kind} token that may push and open pull requests on "
            f"{where.path} (or name another variable with --forge-token-env)"
        )
    return token


def throttle_of(
    config: RunConfig, env: Mapping[str, str], shared: Callable[[], None] | None = None
) -> WriteThrottle:
    """The one write limit, shared through a file in the state directory (and `shared` beyond it)."""
    return WriteThrottle(
        state_dir(env) / THROTTLE_NAME,
        per_minute=config.forge_writes_per_minute,
        per_hour=config.forge_writes_per_hour,
        min_interval=config.forge_write_interval,
        shared=shared,
    )


def open_target(
    repo: repository.Repository,
    config: RunConfig,
    env: Mapping[str, str],
    shared: Callable[[], None] | None = None,
) -> Target:
    """The run's forge repository, checked (it exists, is not archived, the token may push)."""
    remote = config.push or DEFAULT_REMOTE
    url = repository.remote_url(repo, remote)
    where = detect(url, kind=config.forge, api_url=config.forge_url, path=config.forge_repo)
    token = token_of(env, where, config.forge_token_env)
    forge = connect(where, token, throttle_of(config, env, shared))
    try:
        default = forge.check_repository()
    except BaseException:
        forge.close()
        raise
    return Target(repo, remote, where, forge, config.pr_base or default)


def code_owners(
    repo: repository.Repository, commit: str, kind: str, paths: list[str]
) -> dict[str, tuple[str, ...]]:
    """Each path's owners by the CODEOWNERS file at `commit` (the forge's first location holding one)."""
    rules: list[Rule] = []
    for location in LOCATIONS[kind]:
        try:
            entries = list(repository.tree_entries(repo, commit, location))
        except repository.NotInTreeError:
            continue
        rules = parse(entries[0].read().decode("utf-8", "replace"))
        break
    return {path: owners_of(rules, path) for path in paths}
