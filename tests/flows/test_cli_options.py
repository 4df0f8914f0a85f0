"""Every command's setting options come from the one settings table (RunConfig's fields): the same flag,
help and shown default wherever a setting is offered; `--debug` and `--version` belong to the app."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.exits import DebugFlag
from flows.options import APPLY, FLEET, RUN, SCHEDULE
from pipeline.config import TABLE

COMMANDS = {"run": RUN, "apply": APPLY, "serve": SCHEDULE, "deploy": SCHEDULE, "fleet": FLEET}


def help_of(command: str) -> dict[str, str]:
    """The command's options as its --help shows them: flag -> its entry, wrapped lines joined."""
    shown = CliRunner().invoke(app, [command, "--help"], terminal_width=10_000)
    assert shown.exit_code == 0, shown.output
    entries: dict[str, str] = {}
    flag = ""
    for line in shown.output.split("\nOptions:\n", 1)[1].splitlines():
        if line.startswith("  --"):
            flag = line.split()[0]
        entries[flag] = " ".join([entries.get(flag, ""), *line.split()]).strip()
    return entries


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_each_setting_option_says_what_the_table_says(command: str) -> None:
    text = help_of(command)
    for name in COMMANDS[command]:
        setting = TABLE[name]
        flag = setting.flags[0].split("/")[0] if setting.flags else setting.flag
        said = text.get(flag, "")
        assert setting.help in said, f"{command} {flag}: {said!r}"
        default = setting.shown_default
        if default is not None and not (command == "fleet" and name == "recipe"):
            assert f"[default: {default}]" in said, f"{command} {flag}"


def test_run_offers_every_setting_that_has_a_flag_and_shows_the_defaults() -> None:
    text = help_of("run")
    assert len(RUN) > 30
    assert (
        text["--concurrency"] == "--concurrency INTEGER Requests in flight, run-wide. [default: 16]"
    )
    assert text["--test-timeout"].endswith("Seconds per test run. [default: 600]")
    assert "[default: on for codemods, off for the model]" in text["--import-check"]
    assert "--max-bytes" not in text  # set by CODEMILL_* or [tool.codemill] only


def test_the_app_has_debug_and_version(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    runner = CliRunner()
    version = runner.invoke(app, ["--version"])
    assert version.exit_code == 0 and re.fullmatch(r"codemill \d+\.\d+\.\d+\S*\n", version.output)

    def broken(paths: object) -> None:
        raise RuntimeError("a codemill bug")

    monkeypatch.setattr("pipeline.run.setup.repo_root", broken)
    where = str(tmp_path)
    for args in (["--debug", "run", where], ["run", where, "--debug"], ["run", where]):
        failed = runner.invoke(app, args)
        assert failed.exit_code == 1, failed.output
        assert "codemill: internal error: RuntimeError: a codemill bug" in failed.output
        assert ("Traceback" in failed.output) == ("--debug" in args), args
    DebugFlag.on = False
