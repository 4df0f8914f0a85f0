"""What a setting is: its parser, help, command-line spelling and the sources it may come from.

`RunConfig` (pipeline/config.py) declares each setting once, as a field made by `declare`: type and default
are the field's, the rest rides in the field's metadata. The config's loader, `check_setting` and the options
of every command (flows/options.py) read that one table; nothing else lists the settings again.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

T = TypeVar("T")
# Where a setting may come from: flags (and what the user hands a command: a fleet file, --set), CODEMILL_*
# variables, the user's own config file, the refactored repository's [tool.codemill].
Source = Literal["cli", "env", "user", "repo"]
EVERYWHERE: frozenset[Source] = frozenset({"cli", "env", "user", "repo"})
# Where the model is and which variable holds its key: only the user says, never the refactored repository.
FROM_USER: frozenset[Source] = frozenset({"cli", "env", "user"})
PER_RUN: frozenset[Source] = frozenset({"cli", "env"})  # a choice for one invocation, in no file
_META = "codemill.setting"


@dataclass(frozen=True)
class Setting:
    """One setting as the table holds it; `name` and `default` are filled in from its RunConfig field."""

    parse: Callable[[object], Any]  # raw value in, typed value out, or ValueError saying why
    help: str
    option: Any = (
        None  # the value's type on the command line (str, int, float, bool, Path, list[str])
    )
    flags: tuple[str, ...] = ()  # the option's spelling when not just --name (a bool's --x/--no-x)
    default_text: str | None = (
        None  # the default as help shows it, when the field's default is None
    )
    sources: frozenset[Source] = EVERYWHERE
    name: str = ""
    default: Any = None

    @property
    def flag(self) -> str:
        """`--name-with-dashes`: how messages name the setting."""
        return f"--{self.name.replace('_', '-')}"

    @property
    def flag_only(self) -> bool:
        """An on-only flag (`--dry-run`): absent means "not given", not false."""
        return self.option is bool and not self.flags

    @property
    def shown_default(self) -> str | None:
        """The default for help, or None when there is nothing to show (an off flag, an empty list)."""
        if self.default_text is not None:
            return self.default_text
        if self.default in (None, False, ()) or self.flag_only:
            return None
        return f"{self.default:g}" if isinstance(self.default, float) else str(self.default)


def declare(default: T, parse: Callable[[object], Any], help: str, **more: Any) -> T:
    """A RunConfig field that is a setting: its default, and the table entry in its metadata."""
    entry = Setting(parse, help, **more)
    field: T = dataclasses.field(default=default, metadata={_META: entry})
    return field


def table(config_type: type) -> dict[str, Setting]:
    """Every setting of a dataclass made with `declare`, by name, with name and default filled in."""
    return {
        f.name: dataclasses.replace(f.metadata[_META], name=f.name, default=f.default)
        for f in dataclasses.fields(config_type)
        if _META in f.metadata
    }


# --- value parsers: raw value in, typed value out, or ValueError saying why ---


def integer(minimum: int) -> Callable[[object], int]:
    """An integer of at least `minimum` (underscores allowed in text)."""

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


def positive(value: object) -> float:
    """A number above zero."""
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


def boolean(value: object) -> bool:
    """true/false, 1/0, yes/no, on/off (any case), or a bool."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError("is not a boolean (use true/false, 1/0, yes/no, on/off)")


def text(value: object) -> str:
    """A non-empty string, stripped."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string")
    return value.strip()


# Words that mark a variable as a secret (its name split on "_"): children never see such variables.
SECRET_WORDS = frozenset(
    {"KEY", "APIKEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "CREDENTIALS", "AUTH"}
)


def is_secret_name(name: str) -> bool:
    """Whether an environment variable is named like a secret (AWS_SECRET_ACCESS_KEY, GH_TOKEN, ...)."""
    return any(word in SECRET_WORDS for word in name.upper().split("_"))


def key_variable(value: object) -> str:
    """The name of the variable that holds the model's key: named like a secret, so that the repository's
    tests and imports, which run without secrets, never see it."""
    name = text(value)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError("is not an environment variable's name")
    if not is_secret_name(name):
        raise ValueError(
            "must name a variable with KEY, TOKEN or SECRET in its name, e.g. MY_API_KEY "
            "(such variables are kept from the repository's tests and imports)"
        )
    return name


def http_url(value: object) -> str:
    """An http:// or https:// URL that names a host."""
    url = text(value)
    if not re.match(r"https?://[^/\s]", url, re.IGNORECASE):
        raise ValueError("must start with http:// or https:// and name a host")
    return url


def choice(*choices: str) -> Callable[[object], str]:
    """One of `choices`, exactly."""

    def parse(value: object) -> str:
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return str(value)

    return parse


def globs(value: object) -> tuple[str, ...]:
    """A list of glob patterns (comma-separated in the environment)."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError("must be a list of glob patterns (comma-separated in the environment)")
    return tuple(v.strip() for v in value if v.strip())


def file_path(value: object) -> Path:
    """A path, `~` expanded."""
    if isinstance(value, Path):
        return value
    return Path(text(value)).expanduser()


def python_version(value: object) -> tuple[int, int]:
    """A Python version X.Y (3 or later)."""
    if isinstance(value, str) and (match := re.fullmatch(r"(\d+)\.(\d+)", value.strip())):
        version = (int(match.group(1)), int(match.group(2)))
        if version >= (3, 0):
            return version
        if version[0] == 2:
            raise ValueError("is Python 2: codemill targets Python 3.x")
    if isinstance(value, float):  # only TOML gives a number here, and its 3.10 is 3.1
        raise ValueError(
            'is a number: write the version in quotes, e.g. "3.10" (3.10 reads as 3.1)'
        )
    raise ValueError("is not a Python version: expected X.Y, e.g. 3.10")


def price_table(value: object) -> tuple[tuple[str, float, float], ...]:
    """[tool.codemill.prices]: `"model" = {input = 0.1, output = 0.4}` (USD per million tokens)."""
    if not isinstance(value, dict):
        raise ValueError("must be a table of model = {input = ..., output = ...}")
    out = []
    for model, entry in value.items():
        if not isinstance(entry, dict) or set(entry) != {"input", "output"}:
            raise ValueError(f"entry {model!r} must be {{input = ..., output = ...}}")
        out.append((str(model), positive(entry["input"]), positive(entry["output"])))
    return tuple(out)


def optional(parse: Callable[[object], Any]) -> Callable[[object], Any]:
    """Accept `none`/empty as None (how a default is switched off from the environment)."""

    def wrapped(value: object) -> Any:
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")):
            return None
        return parse(value)

    return wrapped
