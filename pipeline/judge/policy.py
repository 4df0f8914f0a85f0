"""What a recipe allows a proposed chunk to change, and which Python it must run on."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.config import DEFAULT_TARGET_PYTHON


@dataclass(frozen=True)
class Allowances:
    """Changes a recipe permits beyond rewriting bodies; everything else must stay as it was."""

    annotations: bool = False  # add or change type annotations (parameters and returns)
    signatures: bool = False  # change parameter names, order, kinds or defaults
    new_definitions: bool = False  # add new top-level (or class-level) helper definitions
    imports: bool = False  # add imports
    definitions_removed: bool = False  # remove a definition of the chunk's own level
    scope: str = "any"  # what kind of change the answer may make (pipeline.judge.scope.SCOPES)


@dataclass(frozen=True)
class Policy:
    """The rules a verdict is decided under."""

    allowances: Allowances = Allowances()
    target_python: tuple[int, int] = DEFAULT_TARGET_PYTHON
