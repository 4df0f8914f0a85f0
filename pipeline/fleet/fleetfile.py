"""The fleet file: which repositories a fleet run covers, and the settings of each.

```toml
push = "origin"                 # defaults for every repository: any run setting
test_cmd = "python -m pytest -q"

[[repo]]
url = "https://git.example.com/platform/billing.git"   # https, ssh, git@host:path or file://
paths = ["src"]                 # optional: only these paths (default: the whole repository)
base = "main"                   # optional, like every run setting
shards = 4                      # optional: split into shards with --shard-by paths

[[repo]]
path = "../checkouts/lib"       # a local repository, relative to the fleet file
name = "lib"                    # optional: the name in reports (default: the last path part)
```

Every entry is checked before any repository is fetched; a bad one is refused with its line. Credentials never
go in the file (a URL with a password is refused): git's credential helpers or ssh keys provide them.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pipeline.config import SETTINGS, ConfigError, check_setting
from pipeline.fleet.toml_lines import Layout, scan
from pipeline.repository import is_plain_path

ENTRY = "repo"
ENTRY_ONLY = frozenset({"url", "path", "name", "paths", "shards"})
NOT_IN_FILE = frozenset({"report_dir", "cache_path"})  # per machine: each worker decides its own
_SCHEMES = ("https", "http", "ssh", "git", "file")
_SCP_LIKE = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:(?!//)\S+$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class FleetFileError(ConfigError):
    """A fleet file codemill cannot use; the message starts with `FILE:LINE:`."""


@dataclass(frozen=True)
class FleetEntry:
    """One repository of the fleet: where to clone it from and the settings its run gets."""

    name: str  # unique in the fleet, safe as a directory name
    source: str  # what git clones: a URL or an absolute local path
    line: int
    paths: tuple[str, ...] = ()  # () is the whole repository
    shards: int | None = None  # None: as the command line says
    settings: Mapping[str, Any] = field(default_factory=dict)  # defaults merged with the entry's

    @property
    def key(self) -> str:
        """`<name>-<8 hex of sha256(source)>`: the cache and state directory of this repository."""
        return f"{self.name}-{hashlib.sha256(self.source.encode()).hexdigest()[:8]}"


@dataclass(frozen=True)
class Fleet:
    """A parsed, checked fleet file."""

    path: Path
    entries: tuple[FleetEntry, ...]
    defaults: Mapping[str, Any]


def load_fleet(path: Path) -> Fleet:
    """Read and check a fleet file; FleetFileError names the file and line of the first bad entry."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FleetFileError(f"{path}: cannot read the fleet file: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FleetFileError(f"{path}: not valid TOML: {exc}") from None
    layout = scan(text)
    where = _Where(path, layout)
    _refuse_other_tables(data, where)
    defaults = _settings({k: v for k, v in data.items() if k != ENTRY}, layout.top, where, 1)
    tables = data.get(ENTRY, [])
    if not isinstance(tables, list) or not tables:
        raise FleetFileError(f"{path}:1: no repositories: add a [[{ENTRY}]] table per repository")
    sections = layout.entries(ENTRY)
    entries = [
        _entry(table, sections[i] if i < len(sections) else None, defaults, where)
        for i, table in enumerate(tables)
    ]
    _refuse_duplicates(entries, path)
    return Fleet(path, tuple(entries), defaults)


@dataclass(frozen=True)
class _Where:
    path: Path
    layout: Layout

    def at(self, line: int) -> str:
        return f"{self.path}:{line}"


def _refuse_other_tables(data: Mapping[str, Any], where: _Where) -> None:
    for name, value in data.items():
        if isinstance(value, dict):
            line = next((s.line for s in where.layout.sections if s.name == name), 1)
            raise FleetFileError(
                f"{where.at(line)}: unknown table [{name}]: defaults go at the top, "
                f"repositories in [[{ENTRY}]] tables"
            )


def _settings(
    raw: Mapping[str, Any], lines: Mapping[str, int], where: _Where, fallback: int
) -> dict[str, Any]:
    """Run settings checked by the config's own parsers; kept as written (they travel to the worker)."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = key.replace("-", "_")
        line = lines.get(key, fallback)
        if name in NOT_IN_FILE:
            raise FleetFileError(
                f"{where.at(line)}: {key} is decided on each machine, not in the fleet file"
            )
        if name not in SETTINGS:
            raise FleetFileError(f"{where.at(line)}: {key!r} is not a codemill setting")
        try:
            check_setting(name, value, key)
        except ConfigError as exc:
            raise FleetFileError(f"{where.at(line)}: {exc}") from None
        if name == "push" and isinstance(value, str):
            _refuse_credentials(value, where.at(line), "push")
        out[name] = value
    return out


def _entry(table: object, section: Any, defaults: Mapping[str, Any], where: _Where) -> FleetEntry:
    line = section.line if section is not None else 1
    lines: dict[str, int] = section.keys if section is not None else {}
    if not isinstance(table, dict):
        raise FleetFileError(f"{where.at(line)}: [[{ENTRY}]] must be a table")
    has = [k for k in ("url", "path") if k in table]
    if len(has) != 1:
        raise FleetFileError(
            f'{where.at(line)}: a repository needs exactly one of url = "..." or path = "..."'
        )
    kind = has[0]
    at = where.at(lines.get(kind, line))
    value = table[kind]
    if not isinstance(value, str) or not value.strip():
        raise FleetFileError(f"{at}: {kind} must be a non-empty string")
    source = _url(value.strip(), at) if kind == "url" else _local(value.strip(), where.path, at)
    name = _name(table.get("name"), source, where.at(lines.get("name", line)))
    paths = _paths(table.get("paths", []), where.at(lines.get("paths", line)))
    shards = _shards(table.get("shards"), where.at(lines.get("shards", line)))
    own = _settings({k: v for k, v in table.items() if k not in ENTRY_ONLY}, lines, where, line)
    return FleetEntry(name, source, line, paths, shards, {**defaults, **own})


def _refuse_credentials(url: str, at: str, what: str) -> None:
    if "://" in url and urlsplit(url).password is not None:
        raise FleetFileError(
            f"{at}: {what} holds a password: keep credentials out of the fleet file "
            "(use a git credential helper or an ssh key)"
        )


def _url(url: str, at: str) -> str:
    if _SCP_LIKE.match(url):
        return url
    scheme = urlsplit(url).scheme.lower()
    if scheme not in _SCHEMES:
        raise FleetFileError(
            f"{at}: url {url!r} is not a clone URL (https://, ssh://, git@host:path or file://); "
            'use path = "..." for a local repository'
        )
    _refuse_credentials(url, at, "url")
    if scheme == "file" and not Path(urlsplit(url).path).exists():
        raise FleetFileError(f"{at}: url {url!r} names a path that does not exist")
    return url


def _local(value: str, fleet_file: Path, at: str) -> str:
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = fleet_file.parent / path
    if not path.exists():
        raise FleetFileError(f"{at}: path {value!r} does not exist")
    return str(path.resolve())


def _name(value: object, source: str, at: str) -> str:
    if value is None:
        tail = source.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1].removesuffix(".git")
        value = re.sub(r"[^A-Za-z0-9._-]", "_", tail).lstrip("._-") or "repo"
    if not isinstance(value, str) or not _NAME.match(value):
        raise FleetFileError(f"{at}: name {value!r} must be letters, digits, '.', '_' or '-'")
    return value


def _paths(value: object, at: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise FleetFileError(f"{at}: paths must be a list of paths inside the repository")
    for item in value:
        if not is_plain_path(item.rstrip("/")):
            raise FleetFileError(f"{at}: path {item!r} is not a plain path inside the repository")
    return tuple(p.rstrip("/") for p in value)


def _shards(value: object, at: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise FleetFileError(f"{at}: shards must be a whole number of at least 1")
    return value


def _refuse_duplicates(entries: list[FleetEntry], path: Path) -> None:
    seen: dict[str, FleetEntry] = {}
    for entry in entries:
        other = seen.get(entry.name)
        if other is not None:
            raise FleetFileError(
                f"{path}:{entry.line}: a second repository named {entry.name!r} (the first is at "
                f'line {other.line}): give one of them a name = "..."'
            )
        seen[entry.name] = entry
