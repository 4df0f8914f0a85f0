"""The maps of the code match the tree: the README's module map names every module of pipeline/ and
flows/ in its part's row and nothing that is gone; docs/architecture.md's layout names every part."""

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


def readme_map() -> dict[str, set[str]]:
    """The README's module map: part -> the backticked names in its `modules` column."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found: dict[str, set[str]] = {}
    for part, modules in re.findall(
        r"^\| `([a-z/_]+/)` \|[^|\n]*\| ([^\n]*) \|$", text, re.MULTILINE
    ):
        found[part] = set(re.findall(r"`([a-z_]+)`", re.sub(r"\([^)]*\)", "", modules)))
    return found


def test_the_readme_map_names_every_module_in_its_part() -> None:
    tree, readme = modules_by_part(), readme_map()
    assert readme.keys() == tree.keys(), (
        "README's module map: one row per part of pipeline/ and flows/"
    )
    for part, modules in tree.items():
        missing, gone = sorted(modules - readme[part]), sorted(readme[part] - modules)
        assert not missing, (
            f"add {missing} to the `{part}` row of README's module map (Development)"
        )
        assert not gone, f"README's module map names {gone} in `{part}`, which has no such module"


def test_the_architecture_page_names_every_part() -> None:
    layout = (
        (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8").split("## Layout", 1)[1]
    )
    layout = layout.split("```")[1]
    named = set(re.findall(r"^ +([a-z_]+)/ ", layout, re.MULTILINE))
    parts = {p.split("/")[1] for p in modules_by_part() if p.count("/") == 2}
    assert parts <= named, f"docs/architecture.md's layout does not name {sorted(parts - named)}"
