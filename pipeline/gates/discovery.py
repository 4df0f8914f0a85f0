"""The default test gate: a repository's pytest suite, found at the base commit when no command is given.

Found from pytest's configuration (pyproject.toml's [tool.pytest.ini_options], setup.cfg's [tool:pytest],
pytest.ini, tox.ini's [pytest]) or, failing that, from test files (test_*.py, *_test.py). Read from git's
object database, so the user's checkout plays no part; the gate then runs `FOUND_TEST_CMD`.
"""

from __future__ import annotations

import configparser
import tomllib
from pathlib import PurePosixPath

from pipeline.repository import Repository, TreeEntry, tree_entries

_INI_SECTIONS = (("setup.cfg", "tool:pytest"), ("pytest.ini", "pytest"), ("tox.ini", "pytest"))


def _pyproject_has_pytest(entry: TreeEntry) -> bool:
    try:
        data = tomllib.loads(entry.read().decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return False
    return isinstance(data.get("tool", {}).get("pytest", {}).get("ini_options"), dict)


def _ini_has(entry: TreeEntry, section: str) -> bool:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(entry.read().decode("utf-8"))
    except (configparser.Error, UnicodeDecodeError):
        return False
    return parser.has_section(section)


def is_test_file(path: str) -> bool:
    """A file pytest collects by default: test_*.py or *_test.py."""
    name = PurePosixPath(path).name
    return name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))


def _from_config(root: dict[str, TreeEntry]) -> str | None:
    if "pyproject.toml" in root and _pyproject_has_pytest(root["pyproject.toml"]):
        return "[tool.pytest.ini_options] in pyproject.toml"
    for name, section in _INI_SECTIONS:
        if name in root and _ini_has(root[name], section):
            return f"[{section}] in {name}"
    return None


def find_pytest_suite(repo: Repository, base: str) -> str | None:
    """Where the base commit's pytest suite was found, as the run's first lines say it ("tests/",
    "[tool.pytest.ini_options] in pyproject.toml"); None when the commit has none."""
    entries = [e for e in tree_entries(repo, base) if not (e.is_symlink or e.is_submodule)]
    root = {e.path: e for e in entries if "/" not in e.path}
    found = _from_config(root)
    if found is not None:
        return found
    tests = sorted(e.path for e in entries if is_test_file(e.path))
    if not tests:
        return None
    first = PurePosixPath(tests[0])
    return f"{first.parts[0]}/" if len(first.parts) > 1 else str(first)
