"""What a run decides before any file is read: recipe, engine, base, branch and the files `--since` allows.

A damaged state file or response cache is moved aside here, and the run goes on: `RunSetup.warnings`
carries the sentences that say so, for the caller to show before the run starts.

Light on purpose (no engine, libcst or report import): `codemill run` refuses a bad recipe, an unknown
base or a taken branch with these checks before it loads the engines, in well under a second.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from pipeline import repository
from pipeline.config import FOUND_TEST_CMD, ConfigError, RunConfig
from pipeline.engines.ruff_fixes import ruff_command
from pipeline.gates.base_tests import BaseTests
from pipeline.gates.discovery import find_pytest_suite
from pipeline.paths import default_cache_path, state_file
from pipeline.recipes.loading import Recipe, load_recipe
from pipeline.run import state
from pipeline.run.state import LastRun, Since

CODEMOD_MODEL = "libcst-codemods"  # the "model" a codemod run records in its ledger and commits


@dataclass(frozen=True)
class RunSetup:
    """Everything decided before any file is read: recipe, engine, base, branch and the files --since allows.

    Deciding it all first means a bad recipe, a missing key, an unknown base or a taken branch is refused
    before a single request is paid for.
    """

    recipe: Recipe
    engine: str
    model: str
    base_commit: str
    branch: str | None
    state_path: Path
    last: LastRun | None
    since: Since  # the files --since lets the run touch
    run_id: str
    # sentences for the user: a damaged file moved aside, the run goes on
    warnings: tuple[str, ...] = ()


def new_run_id(now: datetime | None = None) -> str:
    """A sortable, unique, path-safe run id: UTC time plus random hex."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def prepare_run(
    config: RunConfig,
    env: Mapping[str, str],
    now: datetime,
    run_id: str | None = None,
) -> RunSetup:
    """Check and fix the run's settings against the repository; typed errors say what is wrong.

    The run's id is chosen here (unless given), since its default branch is named after it."""
    run_id = run_id or new_run_id(now)
    recipe = load_recipe(config.recipe)
    engine = choose_engine(config, recipe, env)
    check_ruff(recipe)
    repo = repository.open_repository(config.repo)
    repository.reclaim_leftovers(repo)  # a killed run's worktrees go before this run makes its own
    base_commit = repository.resolve_base(repo, config.base)
    branch = None
    if not config.dry_run:
        branch = config.branch or repository.run_branch_name(recipe.name, run_id)
        repository.check_branch(repo, branch, force_branch=config.force_branch, run_id=run_id)
    state_path = state_file(config.repo, recipe.name, env)
    last, damaged_state = state.recover_last_run(state_path, config.since)
    since = state.resolve_since(config.since, last, config.repo, base_commit)
    model = CODEMOD_MODEL if engine == "codemod" else config.model
    warnings = tuple(w for w in (damaged_state, check_cache(config, engine, env)) if w)
    return RunSetup(
        recipe, engine, model, base_commit, branch, state_path, last, since, run_id, warnings
    )


def check_cache(config: RunConfig, engine: str, env: Mapping[str, str]) -> str:
    """Open the response cache a model run will use, once, now: a damaged file is moved aside for a
    fresh one before any work, and the sentence saying so is returned ("" when all is well)."""
    if engine == "codemod" or config.no_cache:
        return ""
    from pipeline.model.cache import ResponseCache  # sqlite3: only for a model run

    cache = ResponseCache(config.cache_path or default_cache_path(env))
    cache.close()
    return cache.damage


def with_test_gate(config: RunConfig, setup: RunSetup) -> RunConfig:
    """The config with the test gate a run uses: the configured command, else (unless --no-test-gate)
    `python -m pytest -q` when the base commit has a pytest suite (`test_found` says where it was found)."""
    if config.test_cmd or config.no_test_gate or config.test_found:
        return config
    found = find_pytest_suite(repository.open_repository(config.repo), setup.base_commit)
    return config if found is None else replace(config, test_cmd=FOUND_TEST_CMD, test_found=found)


def start_base_tests(config: RunConfig, setup: RunSetup) -> BaseTests | None:
    """The test gate's base run, started now when the run has a test command (None otherwise).

    The same command, timeout and base the gate would use (`GateSettings.for_run`); a command or timeout
    the gate would refuse is left for the gate to refuse, at the same point of the run as ever."""
    command, timeout = config.test_cmd, config.test_timeout
    if not command or not command.strip() or timeout <= 0:
        return None
    repo = repository.open_repository(config.repo)
    return BaseTests(repo, setup.base_commit, command, timeout)


def choose_engine(config: RunConfig, recipe: Recipe, env: Mapping[str, str]) -> str:
    """`llm`, `codemod` or `hybrid` for `--engine auto|llm|codemod|hybrid`; ConfigError says how to get
    a usable one. `auto` with a key is the hybrid when the recipe has rewrites of its own (codemods, ruff
    rules: the model only for what they leave), else the model; without a key, the codemods."""
    has_key = bool(env.get(config.api_key_env, "").strip())
    if config.engine in ("llm", "hybrid"):
        if not has_key:
            raise ConfigError(
                f"--engine {config.engine} needs an API key: set {config.api_key_env} "
                f"(or name another variable with --api-key-env)."
            )
        if config.engine == "hybrid" and not recipe.deterministic:
            raise ConfigError(
                f"recipe {recipe.name!r} has no codemods or ruff rules for --engine hybrid: "
                f"use --engine llm."
            )
        return config.engine
    if config.engine == "codemod" or not has_key:
        if not recipe.deterministic:
            if has_key:
                raise ConfigError(
                    f"recipe {recipe.name!r} has no offline codemods for --engine codemod: "
                    f"use --engine auto or llm (the key in {config.api_key_env} is set)."
                )
            raise ConfigError(
                f"recipe {recipe.name!r} has no offline codemods and no API key is set: "
                f"export {config.api_key_env}=<your key> to use the model."
            )
        return "codemod"
    return "hybrid" if recipe.deterministic else "llm"


def check_ruff(recipe: Recipe) -> None:
    """RuffError (one sentence) now, before any work, when the recipe lists ruff rules and no ruff runs."""
    if recipe.ruff_rules:
        ruff_command()


def repo_root(paths: Sequence[Path]) -> Path:
    """The working tree of the repository holding the first path (the current directory if none)."""
    repo = repository.open_repository(paths[0] if paths else Path.cwd())
    return Path(str(repo.working_tree_dir))
