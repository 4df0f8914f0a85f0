"""The target Python of a project from what it declares: `requires-python` (pyproject.toml), else
`python_requires` (setup.cfg, then setup.py read with ast, never run). The oldest 3.x minor line the PEP 440
specifier allows (release segments only), so the syntax gate checks what the project promises to run on;
a specifier that still allows Python 2 is named, for the caller to refuse."""

from __future__ import annotations

import ast
import configparser
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

_CLAUSE = re.compile(r"^\s*(~=|===|==|!=|<=|>=|<|>)\s*v?(\d+(?:\.\d+)*)(\.\*)?\s*$")


def _satisfies(version: tuple[int, ...], op: str, spec: tuple[int, ...], wildcard: bool) -> bool:
    """Whether a release version meets one PEP 440 clause (release segments only)."""
    if wildcard:
        prefix = version[: len(spec)] == spec
        return prefix if op == "==" else not prefix
    width = max(len(version), len(spec))
    v = version + (0,) * (width - len(version))
    s = spec + (0,) * (width - len(spec))
    if op == "~=":
        return v >= s and version[: len(spec) - 1] == spec[:-1]
    comparisons: dict[str, Callable[[], bool]] = {
        "==": lambda: v == s,
        "===": lambda: v == s,
        "!=": lambda: v != s,
        "<=": lambda: v <= s,
        ">=": lambda: v >= s,
        "<": lambda: v < s,
        ">": lambda: v > s,
    }
    return comparisons[op]()


def target_python_from_requires(spec: str) -> tuple[int, int] | None:
    """The oldest 3.x minor line with a release allowed by `requires-python`; None without a bound.

    ">=3.9" -> (3, 9); "~=3.8" -> (3, 8); ">=3.8,<4" -> (3, 8); ">3.9" -> (3, 9), since 3.9.1 is
    allowed; ">=3.8,!=3.8.*" -> (3, 9). A spec with no lower bound at all gives None. A clause that
    cannot be read raises ValueError.
    """
    clauses = []
    for raw in spec.split(","):
        if not raw.strip():
            continue
        match = _CLAUSE.match(raw)
        if not match:
            raise ValueError(f"cannot read the version clause {raw.strip()!r}")
        op, number, star = match.groups()
        if star and op not in ("==", "!="):
            raise ValueError(f"a wildcard is only allowed with == or != in {raw.strip()!r}")
        clauses.append((op, tuple(int(p) for p in number.split(".")), bool(star)))
    if not any(op in ("~=", "==", "===", ">=", ">") for op, _, _ in clauses):
        return None
    return _lowest_allowed(3, clauses)


def _lowest_allowed(
    major: int, clauses: list[tuple[str, tuple[int, ...], bool]]
) -> tuple[int, int] | None:
    for minor in range(0, 40):
        for micro in range(0, 40):
            if all(_satisfies((major, minor, micro), *clause) for clause in clauses):
                return (major, minor)
    return None


def python2_allowed(spec: str) -> tuple[int, int] | None:
    """The oldest 2.x line a specifier allows (">=2.7" -> (2, 7)), None when it allows no Python 2."""
    clauses = []
    for raw in spec.split(","):
        match = _CLAUSE.match(raw)
        if match:
            op, number, star = match.groups()
            clauses.append((op, tuple(int(p) for p in number.split(".")), bool(star)))
    if not any(op in ("~=", "==", "===", ">=", ">") for op, _, _ in clauses):
        return None
    return _lowest_allowed(2, clauses)


@dataclass(frozen=True)
class Declared:
    """A project's declared Python: the specifier and where it was read ("setup.cfg python_requires")."""

    spec: str
    file: Path
    key: str


def _setup_cfg(path: Path) -> str | None:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(path.read_text(encoding="utf-8"), str(path))
    except (configparser.Error, UnicodeDecodeError, OSError):
        return None
    value = parser.get("options", "python_requires", fallback=None)
    return value.strip() if value else None


def _setup_py(path: Path) -> str | None:
    """`python_requires="..."` of the setup() call in setup.py, read with ast (the file is never run)."""
    try:
        tree = ast.parse(path.read_bytes(), str(path))
    except (SyntaxError, ValueError, OSError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            for keyword in node.keywords if name == "setup" else ():
                value = keyword.value
                if keyword.arg == "python_requires" and isinstance(value, ast.Constant):
                    return str(value.value)
    return None


def declared_python(directory: Path, requires_python: str | None) -> Declared | None:
    """What the project in `directory` declares, in order: pyproject.toml's `requires-python` (given,
    already read with the rest of that file), setup.cfg's then setup.py's `python_requires`."""
    if requires_python is not None:
        return Declared(requires_python, directory / "pyproject.toml", "requires-python")
    for name, read in (("setup.cfg", _setup_cfg), ("setup.py", _setup_py)):
        path = directory / name
        spec = read(path) if path.is_file() else None
        if spec is not None:
            return Declared(spec, path, "python_requires")
    return None
