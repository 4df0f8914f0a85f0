"""The target Python of a repository from its `requires-python`: the oldest 3.x minor line the PEP 440
specifier allows (release segments only), so the syntax gate checks what the project promises to run on."""

from __future__ import annotations

import re
from collections.abc import Callable

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
    for minor in range(0, 40):
        for micro in range(0, 40):
            if all(_satisfies((3, minor, micro), *clause) for clause in clauses):
                return (3, minor)
    return None
