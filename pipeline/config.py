"""RunConfig: a run's settings from CLI flags > CODEMILL_* env > [tool.codemill] > defaults.

Every setting has one name used by all three sources (`max_cost` is `--max-cost`,
`CODEMILL_MAX_COST` and `max_cost`/`max-cost` in the target repository's pyproject.toml).
A bad value raises ConfigError with one sentence naming the setting and where it came from.
"""

from __future__ import annotations

import os
import re
import sys
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pipeline.errors import UsageError
from pipeline.paths import default_cache_path
from pipeline.python_versions import target_python_from_requires

Engine = Literal["auto", "llm", "codemod"]
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
TEMPERATURE_RANGE = (0.0, 2.0)  # exclusive, inclusive: the schema caps it at 2, the model wants > 0


def temperature_error(value: float) -> str | None:
    """Why `value` is not a temperature the provider takes, or None when it is."""
    low, high = TEMPERATURE_RANGE
    return None if low < value <= high else f"must be in ({low:g}, {high:g}], got {value}"


class ConfigError(UsageError):
    """A setting has a bad value; the message names the setting and its source."""


@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs to know, resolved and validated."""

    repo: Path
    recipe: str = "modernize"
    engine: Engine = "auto"
    model: str = DEFAULT_MODEL
    base_url: str = DEFAULT_BASE_URL
    api_key_env: str = DEFAULT_API_KEY_ENV
    concurrency: int = DEFAULT_CONCURRENCY
    rpm: int | None = None
    tpm: int | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    max_bytes: int = 512_000
    budget: int = DEFAULT_BUDGET
    dry_run: bool = False
    branch: str | None = None  # None: repository names it after the recipe
    base: str = "HEAD"
    commit_per: CommitPer = "file"
    push: str | None = None  # a remote name, or None for no push
    force_branch: bool = False
    report_dir: Path | None = None
    max_cost: float | None = None  # USD
    repair_turns: int = 1
    no_cache: bool = False
    refresh_cache: bool = False
    cache_path: Path | None = None  # the SQLite file; None: pipeline.paths.default_cache_path
    target_python: tuple[int, int] = DEFAULT_TARGET_PYTHON
    test_cmd: str | None = None
    import_check: bool | None = None  # None: on for the codemod engine, off for the model
    import_timeout: float = IMPORT_TIMEOUT
    test_timeout: float = TEST_TIMEOUT
    allow_failing_base: bool = False
    stream: bool = False
    connect_timeout: float = CONNECT_TIMEOUT
    read_timeout: float = READ_TIMEOUT
    request_deadline: float | None = None  # seconds per model request; None: pipeline.model.limits
    context_tokens: int = DEFAULT_CONTEXT_TOKENS  # the model's window: prompt + max_tokens fit it
    price_input: float | None = None  # USD per million input tokens, for a model with no list price
    price_output: float | None = None  # USD per million output tokens
    prices: tuple[
        tuple[str, float, float], ...
    ] = ()  # [tool.codemill.prices]: model, input, output
    gate_repairs: int = 1  # model turns for a chunk the import check or the test gate dropped
    force: bool = False  # run even when the cost forecast is over max_cost
    jobs: int | None = (
        None  # worker processes for per-file work (cutting, codemods); None: every core
    )
    prefilter: bool = True  # a file no codemod's trigger matches is never parsed (off: benchmarks)


def child_environment(**extra: str) -> dict[str, str]:
    """The environment of a child process codemill starts (the repository's tests, the import server,
    git): codemill's own plus `extra`. The only read of `os.environ` in pipeline/."""
    return {**os.environ, **extra}


# --- value parsers: raw value in, typed value out, or ValueError saying why ---


def _int(minimum: int) -> Callable[[object], int]:
    def parse(value: object) -> int:
        if isinstance(value, bool):
            raise ValueError("is not an integer")
        if isinstance(value, str):
            try:
                value = int(value.strip().replace("_", ""))
            except ValueError:
                raise ValueError("is not an integer") from None
        if not isinstance(value, int):
            raise ValueError("is not an integer")
        if value < minimum:
            raise ValueError(f"must be at least {minimum}")
        return value

    return parse


def _float(value: object) -> float:
    if isinstance(value, bool):
        raise ValueError("is not a number")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise ValueError("is not a number") from None
    if not isinstance(value, int | float) or value != value or value <= 0:
        raise ValueError("must be a positive number")
    return float(value)


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError("is not a boolean (use true/false, 1/0, yes/no, on/off)")


def _str(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string")
    return value.strip()


def _http_url(value: object) -> str:
    url = _str(value)
    if not re.match(r"https?://[^/\s]", url, re.IGNORECASE):
        raise ValueError("must start with http:// or https:// and name a host")
    return url


def _choice(*choices: str) -> Callable[[object], str]:
    def parse(value: object) -> str:
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return str(value)

    return parse


def _globs(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [part for part in value.split(",")]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError("must be a list of glob patterns (comma-separated in the environment)")
    return tuple(v.strip() for v in value if v.strip())


def _path(value: object) -> Path:
    if isinstance(value, Path):
        return value
    return Path(_str(value)).expanduser()


def _python(value: object) -> tuple[int, int]:
    if isinstance(value, str) and (match := re.fullmatch(r"(\d+)\.(\d+)", value.strip())):
        version = (int(match.group(1)), int(match.group(2)))
        if version >= (3, 0):
            return version
    if isinstance(value, float):  # only TOML gives a number here, and its 3.10 is 3.1
        raise ValueError(
            'is a number: write the version in quotes, e.g. "3.10" (3.10 reads as 3.1)'
        )
    raise ValueError("is not a Python version: expected X.Y, e.g. 3.10")


def _prices(value: object) -> tuple[tuple[str, float, float], ...]:
    """[tool.codemill.prices]: `"model" = {input = 0.1, output = 0.4}` (USD per million tokens)."""
    if not isinstance(value, dict):
        raise ValueError("must be a table of model = {input = ..., output = ...}")
    out = []
    for model, entry in value.items():
        if not isinstance(entry, dict) or set(entry) != {"input", "output"}:
            raise ValueError(f"entry {model!r} must be {{input = ..., output = ...}}")
        out.append((str(model), _float(entry["input"]), _float(entry["output"])))
    return tuple(out)


def _optional(parse: Callable[[object], Any]) -> Callable[[object], Any]:
    """Accept `none`/empty as None (how a default is switched off from the environment)."""

    def wrapped(value: object) -> Any:
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")):
            return None
        return parse(value)

    return wrapped


_PARSERS: dict[str, Callable[[object], Any]] = {
    "recipe": _str,
    "engine": _choice("auto", "llm", "codemod"),
    "model": _str,
    "base_url": _http_url,
    "api_key_env": _str,
    "concurrency": _int(1),
    "rpm": _optional(_int(1)),
    "tpm": _optional(_int(1)),
    "include": _globs,
    "exclude": _globs,
    "max_bytes": _int(1),
    "budget": _int(64),
    "dry_run": _bool,
    "branch": _optional(_str),
    "base": _str,
    "commit_per": _choice("file", "run"),
    "push": _optional(_str),
    "force_branch": _bool,
    "report_dir": _optional(_path),
    "max_cost": _optional(_float),
    "repair_turns": _int(0),
    "no_cache": _bool,
    "refresh_cache": _bool,
    "cache_path": _optional(_path),
    "target_python": _optional(_python),
    "test_cmd": _optional(_str),
    "import_check": _optional(_bool),
    "import_timeout": _float,
    "test_timeout": _float,
    "allow_failing_base": _bool,
    "stream": _bool,
    "connect_timeout": _float,
    "read_timeout": _float,
    "request_deadline": _optional(_float),
    "context_tokens": _int(256),
    "price_input": _optional(_float),
    "price_output": _optional(_float),
    "prices": _prices,
    "gate_repairs": _int(0),
    "force": _bool,
    "jobs": _optional(_int(1)),
    "prefilter": _bool,
}
SETTINGS = frozenset(_PARSERS)


# --- loading ---


def _pyproject(repo_root: Path) -> tuple[dict[str, Any], str | None]:
    """The [tool.codemill] table and `requires-python` of the target repository, if any."""
    path = repo_root / "pyproject.toml"
    if not path.is_file():
        return {}, None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        raise ConfigError(f"{path} cannot be read as TOML: {exc}") from None
    table = data.get("tool", {}).get("codemill", {})
    if not isinstance(table, dict):
        raise ConfigError(f"[tool.codemill] in {path} is not a table")
    requires = data.get("project", {}).get("requires-python")
    if requires is not None and not isinstance(requires, str):
        raise ConfigError(f"requires-python in {path} is not a string")
    return table, requires


def _convert(name: str, value: object, source: str) -> Any:
    try:
        return _PARSERS[name](value)
    except ValueError as exc:
        raise ConfigError(f"{source}={value!r} {exc}") from None


def load_config(repo_root: Path, cli: Mapping[str, object], env: Mapping[str, str]) -> RunConfig:
    """Resolve a run's settings: CLI flags > CODEMILL_* env > [tool.codemill] > defaults.

    A CLI value of None means "not given". Unknown CLI keys or [tool.codemill] keys are errors;
    CODEMILL_* variables that name no setting are ignored (other tools may share the prefix).
    """
    table, requires = _pyproject(repo_root)
    pyproject = repo_root / "pyproject.toml"
    values: dict[str, Any] = {}
    unknown = sorted(k for k in table if k.replace("-", "_") not in SETTINGS)
    if unknown:
        raise ConfigError(
            f"[tool.codemill] in {pyproject} has unknown setting(s): {', '.join(unknown)}"
        )
    for key, value in table.items():
        name = key.replace("-", "_")
        values[name] = _convert(name, value, f"[tool.codemill] {key} in {pyproject}")
    for name in SETTINGS:
        variable = ENV_PREFIX + name.upper()
        if variable in env:
            values[name] = _convert(name, env[variable], variable)
    bad_cli = sorted(k for k in cli if k.replace("-", "_") not in SETTINGS)
    if bad_cli:
        raise ConfigError(f"unknown option(s): {', '.join('--' + k for k in bad_cli)}")
    for key, value in cli.items():
        if value is not None:
            name = key.replace("-", "_")
            values[name] = _convert(name, value, f"--{name.replace('_', '-')}")
    if values.get("target_python") is None:
        values["target_python"] = _default_target(requires, pyproject)
    if values.get("no_cache") and values.get("refresh_cache"):
        raise ConfigError("--no-cache and --refresh-cache cannot be used together")
    if (values.get("price_input") is None) != (values.get("price_output") is None):
        raise ConfigError("--price-input and --price-output go together: give both or neither")
    if values.get("cache_path") is None:
        values["cache_path"] = default_cache_path(env)
    return RunConfig(repo=repo_root, **values)


def _default_target(requires: str | None, pyproject: Path) -> tuple[int, int]:
    """Lowest Python the target allows, else the running interpreter's version."""
    if requires is not None:
        try:
            lowest = target_python_from_requires(requires)
        except ValueError as exc:
            raise ConfigError(f"requires-python={requires!r} in {pyproject}: {exc}") from None
        if lowest is not None:
            return lowest
    return (sys.version_info.major, sys.version_info.minor)


def check_setting(name: str, value: object, source: str) -> Any:
    """One setting's value parsed as `load_config` would (ConfigError naming `source` if bad).

    For callers that hold settings for later runs, such as a fleet file, and must refuse bad ones up front.
    """
    if name not in SETTINGS:
        raise ConfigError(f"{source}: {name!r} is not a codemill setting")
    return _convert(name, value, source)
