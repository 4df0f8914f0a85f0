"""The house rules on imports, checked file by file: cli -> flows -> pipeline, never upwards; inside
pipeline/, each part imports only the parts below it (docs/architecture.md draws the same table)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BASE = {"errors", "paths", "config", "redact"}  # the floor every part may stand on

# What each part of pipeline/ may import of pipeline/: a part (`judge`) or one module of it
# (`judge.thinking`). A part always may import itself.
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "paths": {"errors"},
    "python_versions": set(),
    "settings": set(),
    "redact": set(),
    "config": {"errors", "paths", "python_versions", "settings"},
    "codemods": set(),
    "repository": BASE,
    "source": BASE | {"repository"},
    "judge": BASE | {"source"},
    "model": BASE | {"judge.thinking", "judge.looping"},
    "recipes": BASE | {"source", "judge"},
    "evidence": BASE,
    "engines": BASE | {"source", "judge", "recipes", "model", "codemods", "evidence"},
    "gates": BASE | {"source", "judge", "engines", "repository", "evidence"},
    "records": BASE | {"source", "judge", "model", "engines.proposal", "evidence"},
    "report": BASE | {"judge.verdicts", "records", "model.prices", "evidence"},
    "run": BASE
    | {"source", "judge", "recipes", "model", "engines", "codemods", "gates", "evidence"}
    | {"report", "repository", "records"},
    "fleet": BASE | {"repository", "run", "report", "records"},
    "forge": BASE,
    "publish": BASE | {"forge", "repository", "records", "run", "fleet", "report", "model.prices"},
    "__init__": {"source", "model", "judge", "recipes", "engines", "run", "records", "config"},
}

# Third-party packages only some parts may import (anything not listed: any part).
ONLY_IN: dict[str, set[str]] = {
    "httpx": {"model", "forge"},
    "jinja2": {"report"},
    "markupsafe": {"report"},
    "pygments": {"report"},
    "yaml": {"recipes"},
}
CLI_MODULES = {  # the Typer app and its commands: the top floor
    "cli.py",
    "fleet_command.py",
    "publish_command.py",
    "status_command.py",
    "run_command.py",
    "schedule_commands.py",
    "options.py",
    "exits.py",
    "cli_values.py",
}


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, top-level or not (a lazy import counts too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            if node.module == "pipeline":  # from pipeline import repository
                names.update(f"pipeline.{alias.name}" for alias in node.names)
            else:
                names.add(node.module)
    return names


def part_of(path: Path) -> str:
    """pipeline/judge/replies.py -> judge; pipeline/config.py -> config; pipeline/__init__.py."""
    relative = path.relative_to(ROOT / "pipeline")
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def allows(part: str, target: str) -> bool:
    """Whether `part` may import pipeline module `target` (`pipeline.judge.thinking`)."""
    names = target.split(".")[1:]
    if not names or names[0] == part:
        return True
    rules = ALLOWED[part]
    return names[0] in rules or ".".join(names[:2]) in rules


PIPELINE_FILES = sorted((ROOT / "pipeline").rglob("*.py"))
FLOWS_FILES = sorted((ROOT / "flows").glob("*.py"))


def _id(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_every_part_of_pipeline_has_a_rule() -> None:
    parts = {part_of(p) for p in PIPELINE_FILES}
    assert parts <= ALLOWED.keys(), f"no import rule for {sorted(parts - ALLOWED.keys())}"


@pytest.mark.parametrize("path", PIPELINE_FILES, ids=_id)
def test_each_part_imports_only_the_parts_below_it(path: Path) -> None:
    part = part_of(path)
    inside = [m for m in imported_modules(path) if m.split(".")[0] == "pipeline"]
    upward = sorted(m for m in inside if not allows(part, m))
    assert not upward, f"{_id(path)} ({part}) may not import {upward}"


@pytest.mark.parametrize("path", PIPELINE_FILES, ids=_id)
def test_third_party_packages_stay_in_their_part(path: Path) -> None:
    part = part_of(path)
    roots = {m.split(".")[0] for m in imported_modules(path)}
    misplaced = sorted(r for r in roots if r in ONLY_IN and part not in ONLY_IN[r])
    assert not misplaced, f"{_id(path)} ({part}) imports {misplaced}"


@pytest.mark.parametrize("path", PIPELINE_FILES, ids=_id)
def test_pipeline_never_imports_flows_prefect_or_the_cli(path: Path) -> None:
    forbidden = {
        name
        for name in imported_modules(path)
        if name.split(".")[0] in {"flows", "prefect", "typer", "rich"}
    }
    assert not forbidden, f"{path.name} imports {sorted(forbidden)}"


@pytest.mark.parametrize(
    "path", [p for p in FLOWS_FILES if p.name not in CLI_MODULES], ids=lambda p: p.name
)
def test_flows_never_import_the_cli(path: Path) -> None:
    names = imported_modules(path)
    assert "flows.cli" not in names
    assert not {n for n in names if n.split(".")[0] == "typer"}, f"{path.name} imports typer"


def cycle_in(rules: dict[str, set[str]]) -> list[str]:
    """A cycle of parts the rules allow (`judge.thinking` counts as `judge`), or [] when there is none."""
    graph = {part: {r.split(".")[0] for r in allowed} - {part} for part, allowed in rules.items()}
    done: set[str] = set()

    def visit(part: str, path: list[str]) -> list[str]:
        if part in path:
            return [*path[path.index(part) :], part]
        if part in done:
            return []
        for below in sorted(graph.get(part, ())):
            if found := visit(below, [*path, part]):
                return found
        done.add(part)
        return []

    for part in sorted(graph):
        if found := visit(part, []):
            return found
    return []


def test_the_parts_form_no_cycle() -> None:
    assert cycle_in(ALLOWED) == [], "the import rules allow a cycle: " + " -> ".join(
        cycle_in(ALLOWED)
    )


def test_the_cycle_check_finds_a_cycle() -> None:
    rules = {**ALLOWED, "records": ALLOWED["records"] | {"run.steps"}}
    assert cycle_in(rules)[0] == cycle_in(rules)[-1] and "run" in cycle_in(rules)


def test_the_rules_catch_an_upward_import(tmp_path: Path) -> None:
    """The checker itself: an upward import and a stray package are named, a downward one is not."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from pipeline.run.steps import plan\nimport httpx\nfrom pipeline import errors\n"
    )
    names = imported_modules(probe)
    assert names == {"pipeline.run.steps", "httpx", "pipeline.errors"}
    assert not allows("judge", "pipeline.run.steps") and allows("judge", "pipeline.errors")
    assert allows("report", "pipeline.records.ledger") and not allows(
        "report", "pipeline.run.steps"
    )
    assert "judge" not in ONLY_IN["httpx"]
