"""The README and the help agree: every option the README names is one some command's help offers, so
a renamed or dropped flag cannot linger in the documentation (git's own flags aside)."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from flows.cli import app

README = Path(__file__).resolve().parents[2] / "README.md"
COMMANDS = [
    "run",
    "serve",
    "deploy",
    "fleet",
    "recipes",
    "show-recipe",
    "report",
    "apply",
    "publish",
    "status",
]
NOT_OURS = {"--name-only"}  # git's, quoted in the README


def test_every_option_the_readme_names_is_in_the_help() -> None:
    runner = CliRunner()
    helps = runner.invoke(app, ["--help"]).output + "".join(
        runner.invoke(app, [command, "--help"]).output for command in COMMANDS
    )
    offered = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", helps))
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", README.read_text(encoding="utf-8")))
    assert named - offered - NOT_OURS == set()
    assert {"--diff", "--to-worktree", "--version"} <= offered
