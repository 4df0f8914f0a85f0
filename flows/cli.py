"""The `codemill` command line (Typer): the top floor; it parses, calls the run or the flows, prints.

Every error codemill raises on purpose is a `CodemillError` that knows its exit code: `main` catches it
once and prints its one sentence. Anything else is an internal failure (1; `--debug` shows the traceback).
Commands import what they need when they run, so `--help`, `recipes` and `show-recipe` start at once.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from flows import fleet_command, publish_command, run_command, schedule_commands, status_command
from flows.cli_values import plain_values
from flows.exits import EXIT_CODES_HELP, DebugFlag, fail
from flows.help_form import click_help, usage_pieces
from flows.options import (
    APPLY,
    ExcludeOption,
    SelectOption,
    given,
    kept_line,
    selection_of,
    setting_options,
)

if TYPE_CHECKING:
    from pipeline.run.selection import Selection


class _FalseHelpDefault:
    """A help flag that defaults to False: Typer coerces a None default with pydantic (~0.4 s to import)."""

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None:
            option.default = False
        return option


class CodemillCommand(_FalseHelpDefault, TyperCommand):
    """Every codemill command: its help, and its plain values, never import pydantic; its help is in
    Click's usual form (`flows.help_form`); `--debug` after the command's name is the app's `--debug`
    (taken out before the command parses its arguments)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        plain_values(self.params)
        click_help(self.params)

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return usage_pieces(self.options_metavar, self.get_params(ctx), ctx)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, DebugFlag.take(args))


class CodemillGroup(_FalseHelpDefault, TyperGroup):
    """The command group that turns every error into one line and its exit code, for every command."""

    def invoke(self, ctx: Any) -> Any:  # a click Context of the copy of click typer ships
        from pipeline.errors import CodemillError

        try:
            return super().invoke(ctx)
        except CodemillError as exc:
            raise typer.Exit(fail(str(exc), int(exc.exit_code))) from None
        except (typer.Exit, typer.Abort, typer.TyperException, KeyboardInterrupt):
            raise
        except Exception as exc:  # an internal failure: one line, the traceback only with --debug
            if DebugFlag.on:
                import traceback

                traceback.print_exc()
            raise typer.Exit(fail(f"internal error: {type(exc).__name__}: {exc}", 1)) from None


app = typer.Typer(
    cls=CodemillGroup,
    name="codemill",
    help="Refactor Python repositories in batch with a language model (or libcst codemods offline).",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help and usage errors: Rich's formatting costs ~0.5 s of imports
)


def _version(shown: bool) -> None:
    if shown:
        from importlib.metadata import version

        typer.echo(f"codemill {version('codemill')}")
        raise typer.Exit()


@app.callback()
def options(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the traceback of an internal failure.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", is_eager=True, callback=_version, help="Print the version."),
    ] = False,
) -> None:
    """The app's own options, before (or, for --debug, after) the command's name."""
    DebugFlag.on = debug


app.command(cls=CodemillCommand, epilog=EXIT_CODES_HELP)(run_command.run)
app.command(cls=CodemillCommand)(schedule_commands.serve)
app.command(cls=CodemillCommand)(schedule_commands.deploy)
app.command("fleet", cls=CodemillCommand)(fleet_command.fleet)
app.command(cls=CodemillCommand)(publish_command.publish)
app.command(cls=CodemillCommand)(status_command.status)


@app.command(cls=CodemillCommand)
def recipes() -> None:
    """List the built-in recipes."""
    from pipeline.recipes.loading import builtin_recipes

    for recipe in builtin_recipes():
        engines = "llm, codemod, hybrid" if recipe.deterministic else "llm"
        typer.echo(f"{recipe.name:<20} {recipe.description}  [{engines}]")


@app.command("show-recipe", cls=CodemillCommand)
def show_recipe(name: str) -> None:
    """Print where a recipe comes from and what it allows."""
    from pipeline.recipes.loading import load_recipe

    recipe = load_recipe(name)
    allowed = [name for name, on in vars(recipe.allowances).items() if on] or ["body changes only"]
    select = recipe.selectors
    typer.echo(f"{recipe.name}: {recipe.description}")
    typer.echo(f"  source:    {recipe.source}")
    typer.echo(f"  kinds:     {', '.join(sorted(select.kinds))}")
    typer.echo(
        f"  selectors: {', '.join([*select.matchers, *(r.pattern for r in select.regex)]) or 'all'}"
    )
    typer.echo(f"  allows:    {', '.join(allowed)}")
    sampling = [f"{k} {v}" for k, v in recipe.params.request_fields().items() if v is not None]
    typer.echo(f"  model:     {', '.join(sampling) or 'the endpoint defaults'}")
    rewrites = [*recipe.codemods, *(f"ruff:{rule}" for rule in recipe.ruff_rules)]
    if rewrites and recipe.unsafe_fixes:
        rewrites[-1] += " (ruff's unsafe fixes too)"
    rewrites = rewrites or ["none (needs a model)"]
    typer.echo(
        "\n".join(f"  {'codemods:' if i == 0 else '':<10} {c}" for i, c in enumerate(rewrites))
    )


RunDir = Annotated[Path, typer.Argument(help="A run's report directory (it holds ledger.jsonl).")]
RepoOption = Annotated[
    Path, typer.Option("--repo", help="The run's repository (default: the current one).")
]


def existing_run_dir(run_dir: Path, repo: Path) -> Path:
    """`run_dir`, or UsageError saying there is no such directory and where this repository's runs are."""
    if run_dir.is_dir():
        return run_dir
    from pipeline.errors import CodemillError, UsageError
    from pipeline.paths import repo_key, state_dir
    from pipeline.run.setup import repo_root

    where = ""
    try:
        runs = state_dir(os.environ) / "runs" / repo_key(repo_root([repo]))
        where = f"; this repository's runs are listed by `ls {runs}`" if runs.is_dir() else ""
    except CodemillError:
        pass  # not in a repository: the run directory is still the first thing wrong
    raise UsageError(
        f"{run_dir}: no such run directory (a run prints its own as `codemill: report DIR`){where}"
    )


@app.command(cls=CodemillCommand)
def report(
    run_dir: RunDir,
    repo: RepoOption = Path("."),
    out: Annotated[Path | None, typer.Option(help="Where to write (default: RUN_DIR).")] = None,
) -> None:
    """Render a run's reports again from its ledger and base commit."""
    from pipeline.report.directory import write_report_dir
    from pipeline.run.progress import counted
    from pipeline.run.reviewed import replayed

    _, again = replayed(existing_run_dir(run_dir, repo), repo)
    paths = write_report_dir(out or run_dir, again.ledger, again.changes)
    typer.echo(f"codemill: {counted(len(again.changes), 'file')} changed; report {paths.directory}")
    typer.echo(f"codemill: open {(paths.directory / 'report.html').resolve().as_uri()}")


@app.command(cls=CodemillCommand)
@setting_options(APPLY)
def apply(
    run_dir: RunDir,
    repo: RepoOption = Path("."),
    partial: Annotated[
        bool, typer.Option("--partial", help="Apply a run that was interrupted or stopped early.")
    ] = False,
    to_worktree: Annotated[
        bool,
        typer.Option(
            "--to-worktree",
            help="Write the change into the working tree instead (no branch, no commit); refused "
            "if it would touch files with uncommitted changes.",
        ),
    ] = False,
    select: SelectOption = None,
    exclude: ExcludeOption = None,
    **settings: Any,
) -> None:
    """Commit a reviewed run's changes on a new branch without asking the model again."""
    from pipeline.run.progress import counted
    from pipeline.run.reviewed import apply_reviewed

    chosen = given(settings)
    run_dir = existing_run_dir(run_dir, repo)
    if to_worktree:
        _to_worktree(
            run_dir, repo, partial, chosen | {"select": select, "exclude": exclude or None}
        )
        return
    branch = chosen.pop("branch")
    selection = selection_of(select, exclude)
    selecting = selection is not None
    if selection is not None:
        done = _apply_selection(run_dir, repo, chosen, selection, branch, partial)
    else:
        done = apply_reviewed(run_dir, repo, chosen, branch=branch, partial=partial, env=os.environ)
    if done is None:
        what = "the selection keeps" if selecting else "the run accepted"
        typer.echo(f"codemill: {what} no change; no branch made")
        return
    pushed = " and pushed" if done.pushed else ""
    typer.echo(f"codemill: branch {done.branch}: {counted(len(done.commits), 'commit')}{pushed}")


def _to_worktree(run_dir: Path, repo: Path, partial: bool, chosen: dict[str, Any]) -> None:
    """`apply --to-worktree`: the whole change in the working tree; a branch or selection option
    with it is refused."""
    from pipeline.errors import UsageError
    from pipeline.run.progress import counted
    from pipeline.run.worktree import apply_to_worktree

    branchy = [f"--{name.replace('_', '-')}" for name, value in chosen.items() if value is not None]
    if branchy:
        raise UsageError(
            f"{', '.join(branchy)} cannot go with --to-worktree "
            "(it writes the whole change into the working tree: no branch, no selection)"
        )
    written = apply_to_worktree(run_dir, repo, partial=partial)
    if not written:
        typer.echo("codemill: the run accepted no change; nothing written")
        return
    typer.echo(f"codemill: wrote {counted(len(written), 'file')}: {', '.join(written)}")


def _apply_selection(
    run_dir: Path,
    repo: Path,
    settings: dict[str, Any],
    selection: Selection,
    branch: str | None,
    partial: bool,
) -> Any:
    """`apply` with a reviewer's selection: says what it kept, then lands it (gated as one set)."""
    from pipeline.run.reviewed import apply_selected

    selected, done = apply_selected(
        run_dir, repo, settings, selection, branch=branch, partial=partial, env=os.environ
    )
    typer.echo(kept_line(selected))
    return done


def main() -> None:
    """Console entry point (errors become one line in CodemillGroup.invoke)."""
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("codemill: interrupted", err=True)
        sys.exit(130)
