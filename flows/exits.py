"""The exit codes of `codemill` as the user reads them, and the one way the CLI prints an error."""

from __future__ import annotations

from collections.abc import Iterable

import typer

EXIT_CODES_HELP = (
    "Exit codes: 0 done, 1 internal failure (--debug shows the traceback), 2 usage or configuration error, "
    "3 fatal provider error, 4 changes found with --fail-on-changes (or kept out unproven with "
    "--fail-on-unproven), "
    "5 provider unreachable or chunks failed for provider reasons, "
    "6 branch committed but the push (or its pull request) failed, 130/143 interrupted by SIGINT/SIGTERM."
)


class DebugFlag:
    """Whether `--debug` was given: the command group then prints the traceback of an internal failure.

    `codemill --debug CMD` is the app's option; `codemill CMD ... --debug` is taken out of the command's
    arguments (`take`) before it parses them, so every command accepts it without declaring it again.
    """

    on = False

    @classmethod
    def take(cls, args: list[str]) -> list[str]:
        """`args` without `--debug` (before a `--`), noting that it was there."""
        end = args.index("--") if "--" in args else len(args)
        if "--debug" not in args[:end]:
            return args
        cls.on = True
        return [a for a in args[:end] if a != "--debug"] + args[end:]


def fail(message: str, code: int) -> int:
    """Print one clear sentence to stderr; the exit code to leave with."""
    typer.echo(f"codemill: {message}", err=True)
    return code


def warn(lines: Iterable[str]) -> None:
    """Print each warning the config returned, once, to stderr."""
    for line in lines:
        typer.echo(f"codemill: warning: {line}", err=True)
