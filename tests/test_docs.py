"""The map of the code matches the tree: docs/architecture.md's module map names every module of pipeline/
and flows/ in its part's row and nothing that is gone."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def modules_by_part() -> dict[str, set[str]]:
    """`pipeline/source/` -> {files, chunking, ...}; `pipeline/` -> its top-level modules; `flows/`."""
    parts: dict[str, set[str]] = {"pipeline/": set(), "flows/": set()}
    for path in (ROOT / "pipeline").rglob("*.py"):
        relative = path.relative_to(ROOT / "pipeline")
        part = f"pipeline/{relative.parts[0]}/" if len(relative.parts) > 1 else "pipeline/"
        if path.stem != "__init__":
            parts.setdefault(part, set()).add(path.stem)
    parts["flows/"] = {p.stem for p in (ROOT / "flows").glob("*.py") if p.stem != "__init__"}
    return parts


def architecture_map() -> dict[str, set[str]]:
    """docs/architecture.md's module map: part -> the backticked names in its `modules` column."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    found: dict[str, set[str]] = {}
    for part, modules in re.findall(
        r"^\| `([a-z/_]+/)` \|[^|\n]*\| ([^\n]*) \|$", text, re.MULTILINE
    ):
        found[part] = set(re.findall(r"`([a-z_]+)`", re.sub(r"\([^)]*\)", "", modules)))
    return found


def test_the_module_map_names_every_module_in_its_part() -> None:
    tree, page = modules_by_part(), architecture_map()
    assert page.keys() == tree.keys(), (
        "docs/architecture.md's module map: one row per part of pipeline/ and flows/"
    )
    for part, modules in tree.items():
        missing, gone = sorted(modules - page[part]), sorted(page[part] - modules)
        assert not missing, (
            f"add {missing} to the `{part}` row of docs/architecture.md's module map"
        )
        assert not gone, (
            f"docs/architecture.md's module map names {gone} in `{part}`: no such module"
        )
