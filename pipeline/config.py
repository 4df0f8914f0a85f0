"""RunConfig: a run's settings from CLI flags > CODEMILL_* env > [tool.codemill] > the user's config file
($XDG_CONFIG_HOME/codemill/config.toml) > defaults.

Every setting is declared once, as a RunConfig field (`pipeline.settings.declare`), and has one name
used by every source (`max_cost` is `--max-cost`, `CODEMILL_MAX_COST` and `max_cost`/`max-cost` in the
target repository's pyproject.toml or the user's file). Where the model is and which variable holds its
key come only from the user (flags, CODEMILL_*, the user's file): a repository that sets them is ignored,
with a warning.
A bad value raises ConfigError with one sentence naming the setting and where it came from.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pipeline.errors import UsageError
from pipeline.paths import default_cache_path
from pipeline.python_versions import (
    Declared,
    declared_python,
    python2_allowed,
    target_python_from_requires,
)
from pipeline.settings import (
    FROM_USER,
    PER_RUN,
    Source,
    boolean,
    choice,
    declare,
    file_path,
    globs,
    http_url,
    integer,
    is_secret_name,
    key_variable,
    optional,
    positive,
    price_table,
    python_version,
    table,
    text,
)

Engine = Literal["auto", "llm", "codemod", "hybrid"]
CommitPer = Literal["file", "run"]
ENV_PREFIX = "CODEMILL_"

# Every default of a run, once. RunConfig's fields start from these; the model client's settings, the
# gates, the policy, the chunker and the engines take theirs from here or from a RunConfig.
DEFAULT_BASE_URL = "https://api.aimlapi.com/v1"
DEFAULT_MODEL = "minimax/m2-1"
DEFAULT_API_KEY_ENV = "AIMLAPI_API_KEY"
DEFAULT_CONCURRENCY = 16  # requests in flight, run-wide
DEFAULT_BUDGET = 2_000  # chunk token budget
DEFAULT_TARGET_PYTHON = (3, 11)
CONNECT_TIMEOUT = 10.0  # seconds
READ_TIMEOUT = 600.0  # a long reasoning answer sends nothing for minutes
DEFAULT_CONTEXT_TOKENS = 204_800  # MiniMax-M2.1's window, input and output together
IMPORT_TIMEOUT = 30.0  # seconds per module import
TEST_TIMEOUT = 600.0  # seconds per run of test_cmd
FOUND_TEST_CMD = "python -m pytest -q"  # the test gate when none is configured and a suite is found
EVIDENCE_LEVELS = (
    "static",
    "imported",
    "exercised",
    "shadowed",
)  # weakest first (pipeline.evidence)
TEMPERATURE_RANGE = (0.0, 2.0)  # exclusive, inclusive: the schema caps it at 2, the model wants > 0


def temperature_error(value: float) -> str | None:
    """Why `value` is not a temperature the provider takes, or None when it is."""
    low, high = TEMPERATURE_RANGE
    return None if low < value <= high else f"must be in ({low:g}, {high:g}], got {value}"


class ConfigError(UsageError):
    """A setting has a bad value; the message names the setting and its source."""


@dataclass(frozen=True)
class Origins:
    """Where a run's project settings came from, for its first lines: the pyproject.toml whose
    [tool.codemill] was used (None: none had one), and the target Python's source in words."""

    settings_file: Path | None = None
    target_from: str = "this Python"


@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs to know, resolved and validated: every setting declared once, here.

    Each field made by `declare` is a setting: its type and default, its parser, its help, its option
    (`option=`: the type on the command line; None: no flag, set by CODEMILL_* or a file) and the
    sources it may come from (`pipeline.settings`). `repo` and `warnings` are not settings.
    """

    repo: Path
    recipe: str = declare(
        "modernize", text, "Built-in recipe name or path to a recipe .md.", option=str
    )
    dry_run: bool = declare(False, boolean, "Write a report only; no branch.", option=bool)
    engine: Engine = declare(
        "auto",
        choice("auto", "llm", "codemod", "hybrid"),
        "auto: with the model's key, hybrid when the recipe has rewrites (codemods, ruff rules) and "
        "llm when it has none; without it, the recipe's codemods.",
        option=str,
    )
    model: str = declare(DEFAULT_MODEL, text, "Model id sent to the endpoint.", option=str)
    base_url: str = declare(
        DEFAULT_BASE_URL, http_url, "OpenAI-compatible base URL (http:// or https://); never "
        "from the repository's [tool.codemill].", option=str, sources=FROM_USER,
    )  # fmt: skip
    api_key_env: str = declare(
        DEFAULT_API_KEY_ENV, key_variable, "Variable holding the API key (a name with KEY, TOKEN "
        "or SECRET in it); never from the repository's [tool.codemill].", option=str,
        sources=FROM_USER,
    )  # fmt: skip
    concurrency: int = declare(
        DEFAULT_CONCURRENCY, integer(1), "Requests in flight, run-wide.", option=int
    )
    jobs: int | None = declare(
        None, optional(integer(1)), "Worker processes for the files (cutting, codemods).", option=int,
        default_text="every core",
    )  # fmt: skip
    rpm: int | None = declare(None, optional(integer(1)), "Requests-per-minute cap.", option=int)
    tpm: int | None = declare(None, optional(integer(1)), "Tokens-per-minute cap.", option=int)
    include: tuple[str, ...] = declare(
        (), globs, "Glob of paths to include (repeatable).", option=list[str]
    )
    exclude: tuple[str, ...] = declare(
        (), globs, "Glob of paths to exclude (repeatable).", option=list[str]
    )
    since: str | None = declare(
        None, optional(text), "last-run or a git ref: only files changed since then.", option=str,
        sources=PER_RUN,
    )  # fmt: skip
    branch: str | None = declare(
        None, optional(text), "Branch to create.", option=str, default_text="named after the recipe"
    )
    base: str = declare("HEAD", text, "Commit to start from.", option=str)
    commit_per: CommitPer = declare(
        "file",
        choice("file", "run"),
        "One commit per changed file, or one for the run.",
        option=str,
    )
    push: str | None = declare(None, optional(text), "Remote to push the branch to.", option=str)
    force_branch: bool = declare(False, boolean, "Replace the branch if it exists.", option=bool)
    report_dir: Path | None = declare(
        None,
        optional(file_path),
        "Where run reports go.",
        option=Path,
        default_text="under the state directory",
    )
    max_cost: float | None = declare(
        None, optional(positive), "Stop sending at this spend (USD).", option=float
    )
    repair_turns: int = declare(1, integer(0), "Repair turns after a rejection.", option=int)
    no_cache: bool = declare(
        False, boolean, "Neither read nor write the response cache.", option=bool
    )
    refresh_cache: bool = declare(
        False, boolean, "Ask the model again and overwrite cached answers.", option=bool
    )
    target_python: tuple[int, int] = declare(
        DEFAULT_TARGET_PYTHON, optional(python_version), "X.Y the code must run on.", option=str,
        default_text="the lowest the project declares (requires-python, python_requires), else this Python",
    )  # fmt: skip
    stream: bool = declare(False, boolean, "Stream answers (SSE).", option=bool)
    test_cmd: str | None = declare(
        None, optional(text), "The repository's test command: changes that break it go.", option=str
    )
    test_timeout: float = declare(TEST_TIMEOUT, positive, "Seconds per test run.", option=float)
    allow_failing_base: bool = declare(
        False, boolean, "Gate even if the base fails its tests.", option=bool
    )
    no_test_gate: bool = declare(
        False, boolean, "Do not find and run the repository's pytest suite when no --test-cmd is given.",
        option=bool,
    )  # fmt: skip
    require_evidence: str | None = declare(
        None, optional(choice(*EVIDENCE_LEVELS)), "Keep out changes whose evidence is below this level "
        "(static, imported, exercised, shadowed): reason unproven.", option=str, default_text="none",
    )  # fmt: skip
    fail_on_unproven: bool = declare(
        False, boolean, "Exit 4 when a change was kept out as unproven (CI).", option=bool
    )
    force: bool = declare(
        False, boolean, "Run even when the forecast is over --max-cost.", option=bool
    )
    price_input: float | None = declare(
        None, optional(positive), "USD per million input tokens of the model.", option=float
    )
    price_output: float | None = declare(
        None, optional(positive), "USD per million output tokens of the model.", option=float
    )
    context_tokens: int = declare(
        DEFAULT_CONTEXT_TOKENS, integer(256), "The model's context window in tokens.", option=int
    )
    gate_repairs: int = declare(
        1, integer(0), "Model turns for a chunk a gate dropped.", option=int
    )
    import_check: bool | None = declare(
        None, optional(boolean), "Import each changed module alone.", option=bool,
        flags=("--import-check/--no-import-check",), default_text="on for codemods, off for the model",
    )  # fmt: skip
    # publishing: the pull request (pipeline.publish); where it goes and its token only from the user
    publish: bool = declare(
        False, boolean, "Push and open or update the pull request.", option=bool
    )
    forge: str | None = declare(
        None, optional(choice("github", "gitlab")), "github | gitlab.", option=str,
        default_text="from the remote's host",
    )  # fmt: skip
    forge_url: str | None = declare(
        None, optional(http_url), "The forge's API (GitHub Enterprise, self-managed GitLab).",
        option=str, sources=FROM_USER, default_text="from the remote's host",
    )  # fmt: skip
    forge_repo: str | None = declare(
        None, optional(text), "OWNER/NAME on the forge.", option=str, sources=FROM_USER,
        default_text="from the remote's URL",
    )  # fmt: skip
    forge_token_env: str | None = declare(
        None, optional(key_variable), "Variable holding the forge token (named like a secret).",
        option=str, sources=FROM_USER, default_text="GITHUB_TOKEN or GITLAB_TOKEN",
    )  # fmt: skip
    pr_base: str | None = declare(
        None, optional(text), "Branch the pull request merges into.", option=str,
        default_text="the repository's default branch",
    )  # fmt: skip
    draft: bool = declare(False, boolean, "Open the pull request as a draft.", option=bool)
    labels: tuple[str, ...] = declare((), globs, "Label of the pull request.", option=list[str])
    reviewers: tuple[str, ...] = declare(
        (), globs, "Reviewer, beside the code owners.", option=list[str]
    )
    assignees: tuple[str, ...] = declare((), globs, "Assignee.", option=list[str])
    split_by: str = declare(
        "none", choice("none", "owner", "directory"), "One pull request per owner or directory.",
        option=str,
    )  # fmt: skip
    max_files_per_pr: int | None = declare(
        None, optional(integer(1)), "Files per pull request at most.", option=int
    )
    forge_writes_per_minute: int = declare(
        80, integer(1), "Forge writes a minute, every codemill process together.", option=int
    )
    forge_writes_per_hour: int = declare(
        500, integer(1), "Forge writes an hour, every codemill process together.", option=int
    )
    forge_write_interval: float = declare(
        1.0, positive, "Seconds between two forge writes at least.", option=float
    )
    max_open_prs: int = declare(
        50, integer(1), "Open codemill pull requests per repository at most.", option=int
    )
    # set by CODEMILL_* or [tool.codemill] only
    max_bytes: int = declare(512_000, integer(1), "Files larger than this many bytes are left out.")
    budget: int = declare(DEFAULT_BUDGET, integer(64), "Chunk token budget.")
    cache_path: Path | None = declare(
        None, optional(file_path), "The response cache's SQLite file.",
        default_text="$XDG_CACHE_HOME/codemill/responses.sqlite3",
    )  # fmt: skip
    import_timeout: float = declare(IMPORT_TIMEOUT, positive, "Seconds per module import.")
    connect_timeout: float = declare(CONNECT_TIMEOUT, positive, "Seconds to connect to the model.")
    read_timeout: float = declare(READ_TIMEOUT, positive, "Seconds between bytes of an answer.")
    request_deadline: float | None = declare(
        None,
        optional(positive),
        "Seconds a whole model request may take, streamed or not.",
        option=float,
        default_text="connect + read timeout + max_tokens at 5 tokens/s",
    )
    prices: tuple[tuple[str, float, float], ...] = declare(
        (),
        price_table,
        "[tool.codemill.prices]: model = {input = ..., output = ...} (USD/M tokens).",
    )
    prefilter: bool = declare(
        True, boolean, "Parse only files some codemod's trigger matches (off: benchmarks)."
    )
    warnings: tuple[str, ...] = ()  # what the loader ignored, and why: the CLI prints each once
    origins: Origins = Origins()  # which files were read
    test_found: str = ""  # not a setting: where the found test gate was found ("" when configured)


TABLE = table(RunConfig)
SETTINGS = frozenset(TABLE)


# --- the environment of the repository's own code ---


def _key_variables(environ: Mapping[str, str], *more: str) -> set[str]:
    """The variables that may hold the model's key: the default one, the one CODEMILL_API_KEY_ENV names,
    and `more` (a run's own `api_key_env`)."""
    named = environ.get(ENV_PREFIX + "API_KEY_ENV", DEFAULT_API_KEY_ENV)
    return {name.strip() for name in (DEFAULT_API_KEY_ENV, named, *more)}


def _without_model_key(environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` less every CODEMILL_* variable and the model's key variables: codemill's own settings
    and the model's key are codemill's, not its children's."""
    hidden = _key_variables(environ)
    return {
        name: value
        for name, value in environ.items()
        if not name.upper().startswith(ENV_PREFIX) and name not in hidden
    }


def forget_model_key(config: RunConfig) -> None:
    """Drop the model's key from this process's environment: a codemod run needs none, and the recipe's
    codemods run here and in forked workers, where they must not find it."""
    for name in _key_variables(os.environ, config.api_key_env):
        os.environ.pop(name, None)


@contextlib.contextmanager
def model_key_hidden(config: RunConfig) -> Iterator[None]:
    """The model's key out of this process's environment for the block, then put back: a hybrid run's
    codemods run here and in forked workers, where they must not find it, while its model session
    (which holds its own copy) and later runs in this process still need it."""
    names = _key_variables(os.environ, config.api_key_env)
    saved = {name: os.environ.pop(name) for name in names if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def child_environment(**extra: str) -> dict[str, str]:
    """The environment of the repository's own code (its tests, the import server, codemods' children):
    codemill's own less every CODEMILL_* variable and every variable named like a secret (a KEY, TOKEN,
    SECRET, PASSWORD, CREDENTIALS or AUTH word: the model's key, which `api_key_env` must be named so,
    cloud keys, registry tokens, the ssh agent), plus `extra`. PATH, HOME, PYTHON*, LANG and the rest
    stay. With `git_environment`, the only reads of `os.environ` in pipeline/."""
    kept = _without_model_key(os.environ)
    return {**{k: v for k, v in kept.items() if not is_secret_name(k)}, **extra}


def git_environment(**extra: str) -> dict[str, str]:
    """The environment of git (clones and fetches of fleet repositories): codemill's own less the model key
    and CODEMILL_* variables, plus `extra`. git's own credentials (ssh agent, askpass, tokens) stay: a
    private repository's clone needs them, and git runs no code of the repository."""
    return {**_without_model_key(os.environ), **extra}


# --- loading ---


def _toml(path: Path) -> dict[str, Any] | None:
    """A TOML file's data, or None when there is no such file."""
    if not path.is_file():
        return None
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        raise ConfigError(f"{path} cannot be read as TOML: {exc}") from None


def _pyproject(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The [tool.codemill] table (None when the file has none) and `requires-python` of a pyproject."""
    data = _toml(path) or {}
    table = data.get("tool", {}).get("codemill")
    if table is not None and not isinstance(table, dict):
        raise ConfigError(f"[tool.codemill] in {path} is not a table")
    requires = data.get("project", {}).get("requires-python")
    if requires is not None and not isinstance(requires, str):
        raise ConfigError(f"requires-python in {path} is not a string")
    return table, requires


@dataclass(frozen=True)
class Project:
    """What the files between a run's path and the repository root declare, nearest first, as ruff and
    pytest find their configuration: the first [tool.codemill] table, and the first declared Python."""

    pyproject: Path
    table: dict[str, Any]
    declared: Declared | None


def _upward(repo_root: Path, start: Path | None) -> list[Path]:
    """The directories from `start` (a file's own directory) up to the repository root, both included."""
    here = (start or repo_root).resolve()
    here = here if here.is_dir() else here.parent
    root = repo_root.resolve()
    if root not in (here, *here.parents):
        return [root]
    directories = [here]
    while directories[-1] != root:
        directories.append(directories[-1].parent)
    return directories


def find_project(repo_root: Path, start: Path | None = None) -> Project:
    """The nearest [tool.codemill] and declared Python between `start` and the repository root."""
    found: tuple[Path, dict[str, Any]] | None = None
    declared = None
    for directory in _upward(repo_root, start):
        table, requires = _pyproject(directory / "pyproject.toml")
        if found is None and table is not None:
            found = (directory / "pyproject.toml", table)
        declared = declared or declared_python(directory, requires)
    pyproject, table = found or (repo_root / "pyproject.toml", {})
    return Project(pyproject, table, declared)


def user_config_path(env: Mapping[str, str]) -> Path | None:
    """The user's own config file: $XDG_CONFIG_HOME/codemill/config.toml, else ~/.config/codemill/..."""
    base = env.get("XDG_CONFIG_HOME", "").strip()
    home = env.get("HOME", "").strip()
    if not base and not home:
        return None
    return (Path(base) if base else Path(home) / ".config") / "codemill" / "config.toml"


def _convert(name: str, value: object, source: str) -> Any:
    try:
        return TABLE[name].parse(value)
    except ValueError as exc:
        raise ConfigError(f"{source}={value!r} {exc}") from None


def _from_file(
    table: Mapping[str, Any], file: Path, source: Source, section: str = ""
) -> tuple[dict[str, Any], list[str]]:
    """The settings of a file's table (`section` names it: [tool.codemill]), and the keys `source` may
    not set (left out)."""
    unknown = sorted(k for k in table if k.replace("-", "_") not in SETTINGS)
    if unknown:
        where = f"{section} in {file}" if section else str(file)
        raise ConfigError(f"{where} has unknown setting(s): {', '.join(unknown)}")
    values: dict[str, Any] = {}
    refused = []
    for key, value in table.items():
        name = key.replace("-", "_")
        if source not in TABLE[name].sources:
            refused.append(key)
        else:
            values[name] = _convert(name, value, f"{section} {key} in {file}".lstrip())
    return values, refused


def _from_user(env: Mapping[str, str]) -> dict[str, Any]:
    """The settings of the user's config file, if there is one."""
    path = user_config_path(env)
    data = None if path is None else _toml(path)
    if path is None or data is None:
        return {}
    values, refused = _from_file(data, path, "user")
    if refused:
        raise ConfigError(f"{path}: {', '.join(refused)} is given per run (flag or CODEMILL_*)")
    return values


def _from_repository(
    table: Mapping[str, Any], pyproject: Path, repo_root: Path
) -> tuple[dict[str, Any], str | None]:
    """The settings of [tool.codemill], and a warning naming those the repository may not set (ignored).

    A pyproject.toml in a subfolder speaks of its own folder, as ruff's does: its globs are relative to
    it, and its test command runs there."""
    values, refused = _from_file(table, pyproject, "repo", "[tool.codemill]")
    folder = pyproject.parent.resolve().relative_to(repo_root.resolve()).as_posix()
    if folder != ".":
        for name in ("include", "exclude"):
            if name in values:
                values[name] = tuple(f"{folder}/{glob}" for glob in values[name])
        if values.get("test_cmd"):
            values["test_cmd"] = f"cd {shlex.quote(folder)} && {values['test_cmd']}"
    if not refused:
        return values, None
    return values, (
        f"[tool.codemill] in {pyproject} sets {', '.join(refused)}, ignored: where the model is "
        "and which variable holds its key come only from your flags, CODEMILL_* variables or your "
        "own config file, never from the repository being refactored"
    )


def load_config(
    repo_root: Path, cli: Mapping[str, object], env: Mapping[str, str], start: Path | None = None
) -> RunConfig:
    """Resolve a run's settings: CLI flags > CODEMILL_* env > [tool.codemill] > the user's config file
    (`user_config_path`) > defaults.

    [tool.codemill] and the declared Python are the nearest to `start` (the run's path; default: the
    repository root) up to the repository root (`find_project`).
    A CLI value of None means "not given". Unknown CLI keys or file keys are errors; CODEMILL_* variables
    that name no setting are ignored (other tools may share the prefix). A setting the repository may
    not set (`base_url`, `api_key_env`) is ignored there, with a line in `warnings`.
    """
    project = find_project(repo_root, start)
    values = _from_user(env)
    from_repo, warning = _from_repository(project.table, project.pyproject, repo_root)
    values.update(from_repo)
    for name, setting in TABLE.items():
        variable = ENV_PREFIX + name.upper()
        if variable in env and "env" in setting.sources:
            values[name] = _convert(name, env[variable], variable)
    bad_cli = sorted(k for k in cli if k.replace("-", "_") not in SETTINGS)
    if bad_cli:
        raise ConfigError(f"unknown option(s): {', '.join('--' + k for k in bad_cli)}")
    for key, value in cli.items():
        if value is not None:
            name = key.replace("-", "_")
            values[name] = _convert(name, value, TABLE[name].flag)
    target_from = _target_origin(cli, env, from_repo, project.pyproject)
    if values.get("target_python") is None:
        values["target_python"], target_from = _default_target(project.declared, repo_root)
    if values.get("no_cache") and values.get("refresh_cache"):
        raise ConfigError("--no-cache and --refresh-cache cannot be used together")
    if (values.get("price_input") is None) != (values.get("price_output") is None):
        raise ConfigError("--price-input and --price-output go together: give both or neither")
    if values.get("cache_path") is None:
        values["cache_path"] = default_cache_path(env)
    origins = Origins(project.pyproject if project.table else None, target_from)
    warnings = () if warning is None else (warning,)
    return RunConfig(repo=repo_root, warnings=warnings, origins=origins, **values)


def _target_origin(
    cli: Mapping[str, object], env: Mapping[str, str], repo: Mapping[str, Any], pyproject: Path
) -> str:
    """Which source set `target_python`, in words (the user's file when no other did)."""
    if cli.get("target_python") is not None:
        return "--target-python"
    if ENV_PREFIX + "TARGET_PYTHON" in env:
        return ENV_PREFIX + "TARGET_PYTHON"
    if "target_python" in repo:
        return f"[tool.codemill] in {pyproject}"
    return "your config file"


def _default_target(declared: Declared | None, repo_root: Path) -> tuple[tuple[int, int], str]:
    """The lowest Python the project declares, and where that was read; else this Python's version.
    A project that still allows Python 2 is refused: codemill writes Python 3."""
    this = (sys.version_info.major, sys.version_info.minor)
    if declared is None:
        return this, "this Python: the project declares none"
    where = f"{declared.file.relative_to(repo_root.resolve())} {declared.key} {declared.spec}"
    old = python2_allowed(declared.spec)
    if old is not None:
        raise ConfigError(
            f"codemill targets Python 3.x; this project still supports {old[0]}.{old[1]} ({where})"
        )
    try:
        lowest = target_python_from_requires(declared.spec)
    except ValueError as exc:
        raise ConfigError(f"{declared.key}={declared.spec!r} in {declared.file}: {exc}") from None
    return (
        (lowest, where) if lowest is not None else (this, f"this Python: {where} sets no minimum")
    )


def check_setting(name: str, value: object, source: str) -> Any:
    """One setting's value parsed as `load_config` would (ConfigError naming `source` if bad).

    For callers that hold settings for later runs, such as a fleet file, and must refuse bad ones up front.
    """
    if name not in SETTINGS:
        raise ConfigError(f"{source}: {name!r} is not a codemill setting")
    return _convert(name, value, source)
