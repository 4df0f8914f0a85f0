"""ruff's fixes as a recipe's deterministic rewrites: ruff runs ONCE over every file of the run, at the start.

The base blobs are written to a private temporary directory, and ruff is run twice over all of them (in
batches of paths, never once per file): `--output-format json` names each fixable violation's rule and
lines, then `--fix-only` rewrites the copies. What comes back per file is the fixed text and the rules with
the lines they touched, for the codemod engine to prove per chunk like any other rewrite. ruff runs
`--isolated` (the repository's own ruff settings do not choose what codemill lands), with the run's target
Python, safe fixes only unless the recipe opts in, and in the children's environment (no model key).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import child_environment
from pipeline.engines.attribution import Touched
from pipeline.errors import UsageError
from pipeline.source.files import SourceFile

BATCH = 500  # paths per ruff command: well under any command line's limit
TIMEOUT_S = 600.0


class RuffError(UsageError):
    """ruff is missing, or failed on the run's files: nothing of its fixes is used."""


@dataclass(frozen=True)
class RuffFix:
    """ruff's result for one file: the fixed text (no BOM, like SourceFile.text) and each fix's rule
    (`ruff:UP031`) with the base lines it touches."""

    path: str
    text: str
    spans: tuple[Touched, ...]


def ruff_command() -> list[str]:
    """How to run ruff: the binary the `ruff` package ships, else `python -m ruff`; RuffError if neither."""
    try:
        from ruff.__main__ import find_ruff_bin
    except ImportError:
        raise RuffError(
            "the recipe lists ruff rules but ruff is not installed: pip install ruff "
            "(codemill's pinned dependency)"
        ) from None
    try:
        return [str(find_ruff_bin())]
    except FileNotFoundError:
        return [sys.executable, "-m", "ruff"]


class RuffFixer:
    """ruff's fixes for a recipe's rules, at one target Python."""

    def __init__(
        self,
        rules: Sequence[str],
        target_python: tuple[int, int],
        *,
        unsafe: bool = False,
        command: Sequence[str] | None = None,
    ) -> None:
        self.rules = tuple(rules)
        self.options = [
            "--isolated",
            "--no-cache",
            "--exit-zero",
            f"--select={','.join(self.rules)}",
            f"--target-version=py{target_python[0]}{target_python[1]}",
            *(["--unsafe-fixes"] if unsafe else []),
        ]
        self.applicable = ("safe", "unsafe") if unsafe else ("safe",)
        self.command = list(command) if command is not None else None

    def fix(self, sources: Sequence[SourceFile]) -> dict[str, RuffFix]:
        """ruff's fixes for every file it changes, by path (files ruff leaves alone are absent).

        Only UTF-8 files go to ruff (it reads nothing else); RuffError when it cannot run or fails."""
        files = [s for s in sources if s.encoding.replace("_", "-").lower() in ("utf-8", "utf8")]
        if not self.rules or not files:
            return {}
        command = self.command or ruff_command()
        with tempfile.TemporaryDirectory(prefix="codemill-ruff-") as scratch:
            root = Path(scratch)
            for source in files:
                copy = root / source.path
                copy.parent.mkdir(parents=True, exist_ok=True)
                copy.write_bytes(source.data)
            spans = self._spans(command, root, files)
            for batch in _batches([s.path for s in files]):
                self._run(command, root, ["check", *self.options, "--fix-only", *batch])
            return dict(_changed(root, files, spans))

    def _spans(
        self, command: list[str], root: Path, files: Sequence[SourceFile]
    ) -> dict[str, list[Touched]]:
        """Each file's fixable violations under the recipe's rules, from ruff's JSON report."""
        spans: dict[str, list[Touched]] = {}
        for batch in _batches([s.path for s in files]):
            args = ["check", *self.options, "--output-format=json", *batch]
            for violation in json.loads(self._run(command, root, args) or "[]"):
                fix = violation.get("fix")
                if not fix or fix["applicability"] not in self.applicable:
                    continue
                rows = [violation["location"]["row"], violation["end_location"]["row"]]
                for edit in fix["edits"]:
                    rows += [edit["location"]["row"], edit["end_location"]["row"]]
                path = Path(violation["filename"]).resolve().relative_to(root.resolve())
                span = Touched(f"ruff:{violation['code']}", min(rows), max(rows))
                spans.setdefault(path.as_posix(), []).append(span)
        return spans

    def _run(self, command: list[str], root: Path, args: list[str]) -> str:
        """One ruff command in `root`; its standard output, or RuffError with ruff's own first line."""
        try:
            done = subprocess.run(
                [*command, *args],
                cwd=root,
                capture_output=True,
                text=True,
                timeout=TIMEOUT_S,
                env=child_environment(),
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RuffError(f"ruff could not run ({command[0]}): {exc}") from None
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).splitlines()
            said = " ".join(line.strip() for line in lines if line.strip())[:400] or "no output"
            raise RuffError(f"ruff failed (exit {done.returncode}) on the run's files: {said}")
        return done.stdout


def _batches(paths: list[str]) -> Iterator[list[str]]:
    """The paths in groups of BATCH, each `./`-prefixed (a file named `-x.py` is not an option)."""
    for start in range(0, len(paths), BATCH):
        yield [f"./{path}" for path in paths[start : start + BATCH]]


def _changed(
    root: Path, files: Sequence[SourceFile], spans: dict[str, list[Touched]]
) -> Iterator[tuple[str, RuffFix]]:
    """The files ruff rewrote, read back in their own encoding (BOM dropped, as SourceFile.text)."""
    for source in files:
        data = (root / source.path).read_bytes()
        if data != source.data:
            text = data.decode(source.encoding).removeprefix("\ufeff")
            yield source.path, RuffFix(source.path, text, tuple(spans.get(source.path, ())))
