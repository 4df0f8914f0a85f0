"""The options of `codemill run`, declared once: each names the RunConfig setting it sets.

`run_parameters` turns the table into the command's signature for Typer; `settings_from` maps the parsed
values back onto the config's names (None: not given, so the environment, the pyproject or the default
decides). A new setting is one line here, no second list to keep in step.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Optional

import typer


@dataclass(frozen=True)
class RunOption:
    """One option of `codemill run`; `name` is the RunConfig setting (and `--name-with-dashes`)."""

    name: str
    kind: Any  # the value's type: str, int, float, bool, Path or list[str]
    help: str
    flags: tuple[
        str, ...
    ] = ()  # the option's spelling when not just --name (a bool's --x or --x/--no-x)
    flag_only: bool = False  # an on-only flag: absent means "not given", not false

    def parameter(self) -> inspect.Parameter:
        option = typer.Option(*self.flags, help=self.help)
        annotation: Any = Annotated[Optional[self.kind], option]  # noqa: UP045
        return inspect.Parameter(
            self.name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation
        )

    def setting(self, value: Any) -> Any:
        """The parsed value as the config sees it: an unset flag or an empty list is "not given"."""
        if (value is False and self.flag_only) or value == []:
            return None
        return value


def _flag(name: str, help: str) -> RunOption:
    return RunOption(name, bool, help, (f"--{name.replace('_', '-')}",), flag_only=True)


SETTING_OPTIONS = (
    RunOption("recipe", str, "Built-in recipe name or path to a recipe .md."),
    _flag("dry_run", "Write a report only; no branch."),
    RunOption("engine", str, "auto | llm | codemod."),
    RunOption("model", str, "Model id sent to the endpoint."),
    RunOption("base_url", str, "OpenAI-compatible base URL (http:// or https://)."),
    RunOption("api_key_env", str, "Variable holding the API key."),
    RunOption("concurrency", int, "Requests in flight, run-wide."),
    RunOption("jobs", int, "Worker processes for the files (default: every core)."),
    RunOption("rpm", int, "Requests-per-minute cap."),
    RunOption("tpm", int, "Tokens-per-minute cap."),
    RunOption("include", list[str], "Glob of paths to include."),
    RunOption("exclude", list[str], "Glob of paths to exclude."),
    RunOption("branch", str, "Branch to create."),
    RunOption("base", str, "Commit to start from (default HEAD)."),
    RunOption("commit_per", str, "file | run."),
    RunOption("push", str, "Remote to push the branch to."),
    _flag("force_branch", "Replace the branch if it exists."),
    RunOption("report_dir", Path, "Where run reports go."),
    RunOption("max_cost", float, "Stop sending at this spend (USD)."),
    RunOption("repair_turns", int, "Repair turns after a rejection."),
    _flag("no_cache", "Neither read nor write the response cache."),
    _flag("refresh_cache", "Ask the model again and overwrite cached answers."),
    RunOption("target_python", str, "X.Y the code must run on."),
    _flag("stream", "Stream answers (SSE)."),
    RunOption("test_cmd", str, "The repository's test command: changes that break it go."),
    RunOption("test_timeout", float, "Seconds per test run."),
    _flag("allow_failing_base", "Gate even if the base fails its tests."),
    _flag("force", "Run even when the forecast is over --max-cost."),
    RunOption("price_input", float, "USD per million input tokens of the model."),
    RunOption("price_output", float, "USD per million output tokens of the model."),
    RunOption("context_tokens", int, "The model's context window in tokens."),
    RunOption("gate_repairs", int, "Model turns for a chunk a gate dropped (default 1)."),
    RunOption(
        "import_check",
        bool,
        "Import each changed module alone (default: on for codemods, off for the model).",
        ("--import-check/--no-import-check",),
    ),
)


def run_parameters() -> list[inspect.Parameter]:
    """The setting options as keyword parameters of the `run` command."""
    return [option.parameter() for option in SETTING_OPTIONS]


def settings_from(values: dict[str, Any]) -> dict[str, Any]:
    """The config settings the user gave on the command line, by setting name."""
    return {option.name: option.setting(values[option.name]) for option in SETTING_OPTIONS}
