"""One error root: every error class codemill defines is a CodemillError, named in the drawn tree,
with the exit code its family means."""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import pipeline
from pipeline import errors
from pipeline.config import ConfigError
from pipeline.engines.codemod_module import ChunkMappingError, CodemodError
from pipeline.errors import CodemillError, ExitCode, UsageError
from pipeline.gates.scratch import BadEditError, GateError
from pipeline.gates.suite import BaseTestsFail
from pipeline.model import errors as model_errors
from pipeline.model.errors import (
    AuthenticationError,
    FatalModelError,
    InsufficientCredits,
    RateLimited,
    RetriesExhausted,
)
from pipeline.paths import ReportError
from pipeline.recipes.loading import RecipeError
from pipeline.records.ledger import LedgerError
from pipeline.repository import PushError, UnknownBaseError
from pipeline.run.replay import ReplayError
from pipeline.run.state import StateError
from pipeline.source.files import SourceError
from pipeline.source.spans import ChunkingError

ROOT = Path(__file__).resolve().parents[1]
BUILTIN_EXCEPTIONS = {
    name
    for name, obj in vars(builtins).items()
    if isinstance(obj, type) and issubclass(obj, BaseException)
}


def _pipeline_error_classes() -> list[type[BaseException]]:
    """Every public exception class defined in a pipeline module."""
    found = []
    for info in pkgutil.walk_packages(pipeline.__path__, "pipeline."):
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseException)
                and obj.__module__ == info.name
                and not name.startswith("_")
            ):
                found.append(obj)
    return found


def test_every_pipeline_error_is_under_the_root_and_in_the_tree() -> None:
    classes = _pipeline_error_classes()
    assert len(classes) > 30
    tree = f"{errors.__doc__}{model_errors.__doc__}"  # the model client draws its own branch
    for cls in classes:
        assert issubclass(cls, CodemillError), f"{cls.__qualname__} is not a CodemillError"
        assert re.search(rf"\b{cls.__name__}\b", tree), f"{cls.__name__} is missing from the tree"


@pytest.mark.parametrize("folder", ["pipeline", "flows"])
def test_no_public_error_class_derives_from_a_builtin_exception(folder: str) -> None:
    offenders = []
    for path in (ROOT / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                bases = {b.id for b in node.bases if isinstance(b, ast.Name)}
                if bases & BUILTIN_EXCEPTIONS and node.name != "CodemillError":
                    offenders.append(f"{path.relative_to(ROOT)}:{node.name}")
    assert offenders == []


@pytest.mark.parametrize(
    ("cls", "code"),
    [
        (ConfigError, 2),
        (RecipeError, 2),
        (SourceError, 2),
        (UnknownBaseError, 2),
        (PushError, 6),
        (GateError, 2),
        (BadEditError, 2),
        (BaseTestsFail, 2),
        (LedgerError, 2),
        (StateError, 2),
        (ReplayError, 2),
        (ReportError, 2),
        (FatalModelError, 3),
        (AuthenticationError, 3),
        (InsufficientCredits, 3),
        (RateLimited, 1),
        (RetriesExhausted, 1),
        (CodemodError, 1),
        (ChunkMappingError, 1),
        (ChunkingError, 1),
        (CodemillError, 1),
    ],
)
def test_each_error_knows_its_exit_code(cls: type[CodemillError], code: int) -> None:
    assert cls.exit_code == code
    assert issubclass(cls, UsageError) == (code == ExitCode.USAGE)


def test_an_instance_keeps_its_message_and_exit_code() -> None:
    exc = AuthenticationError("CODEMILL_API_KEY")
    assert exc.exit_code == ExitCode.PROVIDER
    assert str(exc).startswith("the API key in CODEMILL_API_KEY was refused")
