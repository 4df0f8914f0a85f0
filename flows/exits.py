"""The exit codes of `codemill` as the user reads them, and the one way the CLI prints an error."""

from __future__ import annotations

import typer

EXIT_CODES_HELP = (
    "Exit codes: 0 done, 1 internal failure, 2 usage or configuration error, "
    "3 fatal provider error, 4 changes found with --fail-on-changes, "
    "5 provider unreachable or chunks failed for provider reasons, "
    "6 branch committed but the push failed, 130/143 interrupted by SIGINT/SIGTERM."
)


class DebugFlag:
    """Whether `--debug` was given: main() then prints the traceback of an internal failure."""

    on = False


def fail(message: str, code: int) -> int:
    """Print one clear sentence to stderr; the exit code to leave with."""
    typer.echo(f"codemill: {message}", err=True)
    return code
