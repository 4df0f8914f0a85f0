"""Help in Click's usual form: `PATH...` in the usage line, TEXT/INTEGER/PATH metavars, choices spelled
`[auto|llm|codemod]`, and `--recipe` naming the built-in recipes (Typer 0.29 prints `{paths}...` and
`<list[str]>`). Applied to each command's parameters once, when the command is built; no import of
pydantic, Rich or the recipes (a listing of the `prompts` package is all `--recipe` needs)."""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Any, get_args, get_origin

from pipeline.config import CommitPer, Engine

_NAMES = {str: "TEXT", int: "INTEGER", float: "FLOAT", Path: "PATH"}
# the settings and options whose values are a fixed set: shown as Click shows a Choice
CHOICES: dict[str, tuple[str, ...]] = {
    "engine": get_args(Engine),
    "commit_per": get_args(CommitPer),
    "orchestrator": ("auto", "local", "prefect"),
    "shard_by": ("none", "paths"),
}
METAVARS = {"target_python": "X.Y", "base": "REF", "since": "REF", "push": "REMOTE"}
ARGUMENTS = {"paths": "PATH", "repos": "REPO", "run_dir": "RUN_DIR", "name": "RECIPE"}


def builtin_recipe_names() -> list[str]:
    """The recipes shipped in the `prompts` package, by file name (nothing is parsed)."""
    entries = importlib.resources.files("prompts").iterdir()
    return sorted(e.name.removesuffix(".md") for e in entries if e.name.endswith(".md"))


def _metavar(annotation: Any) -> str | None:
    if get_origin(annotation) is list:
        (annotation,) = get_args(annotation)
    return _NAMES.get(annotation)


def _no_type(ctx: Any) -> str:
    return ""


def click_help(params: list[Any]) -> None:
    """Give each parameter Click's usual metavar; arguments lose Typer's `<type>` in the help."""
    for param in params:
        if param.metavar is not None or getattr(param, "is_flag", False):
            continue
        descriptor = getattr(param, "type_descriptor", None)
        if param.param_type_name == "argument":
            base = ARGUMENTS.get(param.name) or param.name.upper()
            param.metavar = base + ("..." if param.nargs != 1 else "")
            param.display_type_rich = _no_type  # the metavar says it; `<list[Path]>` is noise
        elif param.name in CHOICES:
            param.metavar = f"[{'|'.join(CHOICES[param.name])}]"
        elif param.name in METAVARS:
            param.metavar = METAVARS[param.name]
        elif param.name == "recipe":
            param.metavar = "NAME|PATH"
            head, bracket, default = (param.help or "").partition("  [")
            names = ", ".join(builtin_recipe_names())
            param.help = f"{head} Built in: {names}.{'  ' if bracket else ''}{bracket}{default}"
        elif descriptor is not None:
            param.metavar = _metavar(descriptor.annotation) or param.metavar


def usage_pieces(options_metavar: str | None, params: list[Any], ctx: Any) -> list[str]:
    """The usage line's pieces as Click writes them: `[OPTIONS] PATH...`, `[NAME]` when optional."""
    pieces = [options_metavar] if options_metavar else []
    for param in params:
        if param.param_type_name != "argument":
            pieces.extend(param.get_usage_pieces(ctx))
        elif not param.hidden:
            name = param.metavar or param.name.upper()
            pieces.append(name if param.required else f"[{name}]")
    return pieces
