"""What a shadow run compares, and the private directory it runs from: the plugin, its spec, its results.

The test gate's pytest run loads `plugin.py` (copied here as `codemill_shadow.py`) through PYTHONPATH and
PYTEST_ADDOPTS, so the repository's own Python runs it whatever its test command's options; the spec names
each changed function by module and qualified name with its original source.
"""

from __future__ import annotations

import ast
import json
import os
import shlex
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path, PurePosixPath

from pipeline.config import child_environment
from pipeline.engines.proposal import Proposal
from pipeline.gates.scratch import module_for
from pipeline.gates.shadow.plugin import RESULTS_NAME, SPEC_NAME
from pipeline.gates.shadow.results import ShadowOutcome, read_outcomes

PLUGIN = Path(__file__).with_name("plugin.py")
PLUGIN_MODULE = "codemill_shadow"


@dataclass(frozen=True)
class ShadowTarget:
    """One changed function or method: its chunk id, file, qualified name and original (dedented) source."""

    chunk_id: str
    path: str
    qualname: str
    source: str


def targets_of(
    proposals: Iterable[Proposal], ident: Callable[[Proposal], str]
) -> list[ShadowTarget]:
    """The changed functions and methods among accepted chunks, each under its chunk id. Left out: those
    nested in a function (a closure has no original to call), the tests' own modules (their fixtures hold
    the run's state), and definitions under decorators other than staticmethod, classmethod and property
    (defining the original again would run them again: a registering decorator would change the tests)."""
    return [
        ShadowTarget(ident(p), p.chunk.path, p.chunk.name, p.chunk.text)
        for p in proposals
        if p.chunk.kind in ("function", "method")
        and not {"function", "async_function"} & set(p.chunk.enclosing)
        and not _test_module(p.chunk.path)
        and _plain_decorators(p.chunk.text)
    ]


def _test_module(path: str) -> bool:
    name = PurePosixPath(path).name
    return name == "conftest.py" or name.startswith("test_") or name.endswith("_test.py")


def _plain_decorators(source: str) -> bool:
    """Whether the definition has no decorator but staticmethod, classmethod or property."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    found = tree.body[0] if tree.body else None
    if not isinstance(found, ast.FunctionDef | ast.AsyncFunctionDef):
        return False
    return all(
        isinstance(d, ast.Name) and d.id in ("staticmethod", "classmethod", "property")
        for d in found.decorator_list
    )


def runs_pytest(command: str) -> bool:
    """Whether the command runs pytest (`pytest ...`, `python -m pytest ...`): only then is it shadowed."""
    try:
        words = shlex.split(command)
    except ValueError:
        return False
    after_m = {b for a, b in pairwise(words) if a == "-m"}
    named = {os.path.basename(w) for w in words}
    return bool({"pytest", "py.test"} & (named | after_m))


class ShadowRun:
    """A private directory holding the plugin, the spec and the results of one gate's shadow runs."""

    def __init__(self, root: Path, entries: list[dict[str, str]]) -> None:
        self.root = root
        self.results = root / RESULTS_NAME
        self.results.mkdir(mode=0o700)
        shutil.copyfile(PLUGIN, root / f"{PLUGIN_MODULE}.py")
        (root / SPEC_NAME).write_text(json.dumps({"functions": entries}), encoding="utf-8")
        self.ids = [entry["id"] for entry in entries]

    def environment(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """`extra` (variables a run adds, else none) with the plugin loaded too: PYTHONPATH and
        PYTEST_ADDOPTS extended, from `extra`'s values or the repository's own."""
        own = {**child_environment(), **(extra or {})}
        path = os.pathsep.join(p for p in (str(self.root), own.get("PYTHONPATH", "")) if p)
        addopts = f"{own.get('PYTEST_ADDOPTS', '')} -p {PLUGIN_MODULE}".strip()
        return {**(extra or {}), "PYTHONPATH": path, "PYTEST_ADDOPTS": addopts}

    def outcomes(self) -> dict[str, ShadowOutcome]:
        """What the last run found per chunk id (the results are cleared for the next run)."""
        found = read_outcomes(self.results, self.ids)
        for leftover in self.results.iterdir():
            leftover.unlink()
        return found


@contextmanager
def shadow_run(
    tree: Path, command: str, targets: Sequence[ShadowTarget]
) -> Iterator[ShadowRun | None]:
    """A shadow run for the targets that live in importable modules of `tree`; None when there is none
    or the command is not pytest's. The directory goes on exit."""
    entries = [
        {
            "id": t.chunk_id,
            "path": t.path,
            "module": found[1],
            "qualname": t.qualname,
            "source": t.source,
        }
        for t in targets
        if (found := module_for(tree, t.path)) is not None
    ]
    if not entries or not runs_pytest(command):
        yield None
        return
    root = Path(tempfile.mkdtemp(prefix="codemill-shadow-"))
    try:
        yield ShadowRun(root, entries)
    finally:
        shutil.rmtree(root, ignore_errors=True)
