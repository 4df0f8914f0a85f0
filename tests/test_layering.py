"""The house rule on imports: cli -> flows -> pipeline, never upwards; no Prefect (or CLI) in pipeline/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, top-level or not (a lazy import counts too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


@pytest.mark.parametrize(
    "path", sorted((ROOT / "pipeline").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT))
)
def test_pipeline_never_imports_flows_prefect_or_the_cli(path: Path) -> None:
    forbidden = {
        name
        for name in imported_modules(path)
        if name.split(".")[0] in {"flows", "prefect", "typer", "rich"}
    }
    assert not forbidden, f"{path.name} imports {sorted(forbidden)}"


@pytest.mark.parametrize(
    "path",
    sorted(p for p in (ROOT / "flows").glob("*.py") if p.name != "cli.py"),
    ids=lambda p: p.name,
)
def test_flows_never_import_the_cli(path: Path) -> None:
    assert "flows.cli" not in imported_modules(path)
