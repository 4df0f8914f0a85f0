"""The run settings as command-line options, derived from the one settings table (`pipeline.config.TABLE`).

A command names the settings it offers with `@setting_options(...)`; each becomes a keyword option with the
table's flag, help and default, and arrives in the command's `**settings`. `given` maps them back onto the
config's names (None: not given, so the environment, the pyproject or the default decides). A new setting
is one field of RunConfig; no list here to keep in step.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional, TypeVar

import typer

from pipeline.config import TABLE
from pipeline.settings import Setting

if TYPE_CHECKING:
    from pipeline.run.selection import SelectedChanges, Selection

F = TypeVar("F", bound=Callable[..., Any])

# The options of each command, in the order its help lists them.
RUN = tuple(name for name, setting in TABLE.items() if setting.option is not None)
APPLY = ("branch", "push", "force_branch", "commit_per")
SCHEDULE = ("recipe", "since", "dry_run", "push", "publish")  # serve, deploy: the rest: --set
FLEET = ("recipe", "since", "dry_run", "push", "publish")  # the rest: the fleet file or --set
PUBLISH = (  # the forge's settings, then the pull request's
    *(name for name in RUN if name.startswith(("forge", "max_open", "max_files"))),
    *("push", "commit_per", "pr_base", "draft", "labels", "reviewers", "assignees", "split_by"),
)


Sets = Annotated[
    list[str] | None, typer.Option("--set", help="Any run setting as KEY=VALUE (repeatable).")
]


def option_of(setting: Setting, *, required: bool = False) -> inspect.Parameter:
    """The setting as a keyword option: its flag, help, and the default help shows (given or not)."""
    flags = setting.flags or ((setting.flag,) if setting.option is bool else ())
    shown = None if required else setting.shown_default
    help = setting.help if shown is None else f"{setting.help}  [default: {shown}]"
    option = typer.Option(*flags, help=help)
    kind = setting.option if required else Optional[setting.option]  # noqa: UP045
    default = inspect.Parameter.empty if required else None
    return inspect.Parameter(
        setting.name,
        inspect.Parameter.KEYWORD_ONLY,
        default=default,
        annotation=Annotated[kind, option],
    )


def setting_options(names: Iterable[str], *, required: Iterable[str] = ()) -> Callable[[F], F]:
    """Give a command the named settings as options, after its own; they arrive in its `**settings`."""
    needed = set(required)

    def add(command: F) -> F:
        own = inspect.signature(command, eval_str=True)
        kept = [p for p in own.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
        added = [option_of(TABLE[name], required=name in needed) for name in names]
        command.__signature__ = own.replace(parameters=kept + added)  # type: ignore[attr-defined]
        return command

    return add


def given(values: Mapping[str, Any]) -> dict[str, Any]:
    """The settings the user gave on the command line, by setting name: an unset on-only flag or an
    empty list is "not given" (None)."""
    out = {}
    for name, value in values.items():
        setting = TABLE[name]
        out[name] = None if (value is False and setting.flag_only) or value == [] else value
    return out


# A reviewer's selection, for `apply` and `publish` alike (docs/operations.md#choosing-what-lands).
SelectOption = Annotated[
    Path | None,
    typer.Option(metavar="FILE", help="Land only the chunks a selection from report.html keeps."),
]
ExcludeOption = Annotated[
    list[str] | None,
    typer.Option(
        metavar="PATH|CHUNK", help="Leave out a file, directory or chunk id (repeatable)."
    ),
]


def selection_of(select: Path | None, exclude: list[str] | None) -> Selection | None:
    """The reviewer's selection `--select`/`--exclude` make; None when neither was given."""
    from pipeline.run.selection import Selection

    if select is None and not exclude:
        return None
    chosen = Selection.read(select) if select is not None else Selection(None)
    return chosen.excluding(exclude or [])


def kept_line(selected: SelectedChanges) -> str:
    """What a selection kept, and the gates it passed as one set, in one line."""
    kept, total = len(selected.kept), len(selected.kept) + len(selected.left_out)
    gates = "; ".join(
        f"{g.removeprefix('combined ')}: {line}" for g, line in selected.ledger.meta.gates.items()
    )
    return (
        f"codemill: kept {kept} of {total} accepted chunks; gated as one set: "
        f"{gates or 'no gate configured'}"
    )
