"""Test gate: run the repository's own tests on the accepted changes and drop the ones that break them.

Strategy (few runs, exact blame, the kept set always one the gate saw pass):

1. Run the command on the base. A failure raises BaseTestsFail, unless `allow_failing_base`: then a
   later run passes when it fails no test that did not already fail at base (by failing test id;
   by equal exit status when no id can be parsed from either output).
2. Run it on all changes. Passing: everything is kept (2 runs in all).
3. Otherwise, prefix bisection over files (sorted by path). Invariant: `kept` passes and
   `kept + rest` fails. Binary search the shortest prefix of `rest` that fails with `kept`; its last
   file is a culprit (its addition to a passing set fails), the files before it join `kept`. A
   culprit holding several chunk edits is searched the same way over its chunks, with `kept` as the
   background, so only the breaking chunks go. Then `kept + rest-after-culprit` is run: passing ends
   the search, failing repeats it. Each culprit costs about log2(files) + log2(chunks) + 1 runs.
   Suspects first: when the failing output names some of the changed files (a traceback through
   them), `kept` + the others is run first; passing, the search goes on among the suspects only
   (one named culprit: 1 run instead of log2(files)); failing, among the others.

4. Guided (pipeline.gates.guided): with the failing run's per-test coverage, the search goes first over
   only the changes its failing tests ran (the others kept as background), its runs naming only the
   tests that reach them when the command is the found pytest; the kept set then passes the whole
   suite once, or the search starts again over everything as above.

The final kept set is exactly a set the gate ran and saw pass, so no extra confirmation run is
needed. Flaky tests are not retried: a flake can make an innocent change look guilty.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.evidence.coverage_map import CoverageMap
from pipeline.gates.base_tests import BaseTests
from pipeline.gates.guided import reached, selecting
from pipeline.gates.measure import Measurements, contents_key, measuring_env
from pipeline.gates.scratch import (
    BadEditError,
    ChunkEdit,
    GateError,
    apply_edits,
    check_files,
    overwrite,
    scratch_worktree,
)
from pipeline.gates.shadow.results import ShadowOutcome
from pipeline.gates.shadow.spec import ShadowRun, ShadowTarget, shadow_run
from pipeline.gates.test_command import OUTPUT_CHARS as OUTPUT_CHARS  # re-exported
from pipeline.gates.test_command import TestRun as TestRun
from pipeline.gates.test_command import failing_tests as failing_tests
from pipeline.gates.test_command import run_command
from pipeline.judge.verdicts import Reason
from pipeline.repository import Repository

EXCERPT_CHARS = 2_000  # a gate turn's failure, trimmed to what explains it
_SECTION = re.compile(r"^_{3,} (.+?) _{3,}$")  # pytest's header of one failure's report


class BaseTestsFail(GateError):
    """The test command fails (or times out) on the base commit, before any change."""


@dataclass(frozen=True)
class GateDecision:
    """What the test gate did with one file (no chunk split given) or one chunk edit."""

    unit_id: str
    path: str
    kept: bool
    reason: Reason | None = None
    detail: str = ""
    evidence: str = ""  # the failing run's output, trimmed to what explains it (gates.repair)


@dataclass
class TestGateResult:
    """Decisions per file/chunk id, the bytes to commit per file, runs taken and time spent."""

    __test__ = False

    decisions: dict[str, GateDecision]
    files: dict[str, bytes]
    runs: int
    seconds: float
    history: list[TestRun] = field(default_factory=list)
    shadow: dict[str, ShadowOutcome] = field(default_factory=dict)  # per chunk id (shadow runs)
    coverage: CoverageMap | None = None  # what the passing run of the kept set executed, per test

    @property
    def dropped(self) -> list[GateDecision]:
        return [d for d in self.decisions.values() if not d.kept]


def failure_excerpt(output: str, path: str) -> str:
    """The failing test's id, its `E` lines and the frames in `path` (pytest's report), else the
    output's last lines; at most EXCERPT_CHARS."""
    failing = failing_tests(output)
    lines = output.splitlines()
    kept: list[str] = [f"failing test: {failing[0]}"] if failing else []
    inside = False
    for line in lines:
        if (match := _SECTION.match(line.strip())) is not None:
            inside = bool(failing) and match.group(1) in failing[0]
            continue
        if inside and (line.startswith(("E ", ">")) or path in line):
            kept.append(line.rstrip())
    if len(kept) <= 1:
        kept += [ln.rstrip() for ln in lines[-12:] if ln.strip()]
    return "\n".join(kept)[-EXCERPT_CHARS:]


@dataclass(frozen=True)
class _Unit:
    """A file's whole change, or one chunk edit of a file."""

    unit_id: str
    path: str
    edit: ChunkEdit | None


class _Gate:
    """The search state: the worktree, what is written there, and the runs so far."""

    def __init__(
        self,
        tree: Path,
        changes: Mapping[str, tuple[bytes, bytes]],
        chunks: Mapping[str, list[ChunkEdit]],
        command: str,
        timeout: float,
        measurements: Measurements,
    ) -> None:
        self.tree = tree
        self.measurements = measurements
        self.changes = changes
        self.chunks = chunks
        self.command = command
        self.timeout = timeout
        self.originals = {path: (tree / path).read_bytes() for path in changes}
        self.written = dict(self.originals)
        self.history: list[TestRun] = []
        self.base: TestRun | None = None
        self.allow_failing_base = False
        self.decisions: dict[str, GateDecision] = {}
        self.shadow: ShadowRun | None = None  # loaded into the first run on every change
        self.shadow_found: dict[str, ShadowOutcome] = {}
        self.select = False  # runs during a guided search may name the tests to run
        self.selected: str | None = None  # the command of those runs, while they go

    def contents(self, units: Sequence[_Unit]) -> dict[str, bytes]:
        """The bytes of every changed file when exactly `units` are applied."""
        whole = {u.path for u in units if u.edit is None}
        edits: dict[str, list[ChunkEdit]] = {}
        for unit in units:
            if unit.edit is not None:
                edits.setdefault(unit.path, []).append(unit.edit)
        out = dict(self.originals)
        for path in whole:
            out[path] = self.changes[path][1]
        for path, chosen in edits.items():
            out[path] = apply_edits(self.changes[path][0], chosen)
        return out

    def run(self, units: Sequence[_Unit], shadowed: bool = False) -> TestRun:
        """Write the files for `units` (only those that differ) and run the command once (`shadowed`:
        with the shadow plugin loaded)."""
        for path, data in self.contents(units).items():
            if self.written[path] != data:
                overwrite(self.tree / path, data)
                self.written[path] = data
        extra = (
            None  # the base run is not measured: evidence and guidance come from the changes' runs
        )
        if units:
            extra = measuring_env(self.measurements.next_file(self.key(units)), list(self.changes))
        if shadowed and self.shadow is not None:
            extra = self.shadow.environment(extra)
        command = self.selected or self.command
        outcome = run_command(self.tree, command, self.timeout, list(self.changes), extra)
        self.history.append(outcome)
        return outcome

    def key(self, units: Sequence[_Unit]) -> str:
        """The measurements' key of the tree `units` make."""
        return contents_key(self.contents(units))

    def started(self, early: BaseTests) -> TestRun:
        """The base run started before the gate, in this worktree, as the gate's first run."""
        outcome = early.outcome(list(self.changes))
        self.history.append(outcome)
        return outcome

    def keep(self, units: list[_Unit], settle: Callable[[], set[str]] | None) -> list[_Unit]:
        """The units kept: all when the run on all of them passes, else what the search keeps. With
        `settle`, the units the import check dropped go after that first run (which then runs again).
        That first run is shadowed: of what the tests keep, the chunks whose calls differ go after."""
        if not units:
            return []
        everything = self.run(units, shadowed=True)
        self.shadow_found = self.shadow.outcomes() if self.shadow is not None else {}
        if settle is not None and any(u.path not in (left := settle()) for u in units):
            units = [u for u in units if u.path in left]
            if not units:
                return []
            everything = self.run(units)
        return self.confirmed(self.passing(units, everything))

    def passing(self, units: list[_Unit], outcome: TestRun) -> list[_Unit]:
        """`units` when their run passed, else what the search keeps of them."""
        if self.passes(outcome):
            return units
        guided = self.guided(units, outcome)
        if guided is not None:
            return guided
        kept: list[_Unit] = []
        self.search(kept, units, outcome)
        return kept

    def confirmed(self, kept: list[_Unit]) -> list[_Unit]:
        """The kept units less the behaviour-changed chunks; what is left runs once more (and is searched
        should it fail), so the kept set is still one the gate saw pass."""
        narrowed = self.behaving(kept)
        if narrowed == kept or not narrowed:
            return narrowed
        return self.passing(narrowed, self.run(narrowed))

    def behaving(self, units: list[_Unit]) -> list[_Unit]:
        """The units less the chunks the shadow run saw change behaviour (decided `behaviour-changed`);
        a file with such a chunk goes on as its other chunks."""
        changed = {i: o for i, o in self.shadow_found.items() if o.changed}
        out: list[_Unit] = []
        for unit in units:
            edits = self.chunks.get(unit.path, []) if unit.edit is None else [unit.edit]
            if not any(e.chunk_id in changed for e in edits):
                out.append(unit)
                continue
            for edit in edits:
                if (found := changed.get(edit.chunk_id)) is None:
                    out.append(_Unit(edit.chunk_id, unit.path, edit))
                    continue
                self.decisions[edit.chunk_id] = GateDecision(
                    edit.chunk_id,
                    unit.path,
                    False,
                    Reason.BEHAVIOUR_CHANGED,
                    found.detail(),
                    found.evidence(),
                )
        return out

    def guided(self, units: list[_Unit], everything: TestRun) -> list[_Unit] | None:
        """The search over the changes the failing tests ran (pipeline.gates.guided), the rest kept;
        None when the map cannot narrow it, or when its kept set then fails the whole suite."""
        failing_map = self.measurements.read(self.key(units), self.tree)
        if failing_map is None or not everything.failing:
            return None
        suspects = reached({u.path for u in units}, everything.failing, failing_map)
        if not 0 < len(suspects) < len({u.path for u in units}):
            return None
        kept = [u for u in units if u.path not in suspects]
        if self.select:
            self.selected = selecting(self.command, suspects, failing_map)
        try:
            self.search(kept, [u for u in units if u.path in suspects], everything)
        finally:
            self.selected = None
        if self.passes(self.run(kept)):
            return kept
        self.decisions.clear()  # the map missed a path: search again over everything
        return None

    def passes(self, outcome: TestRun) -> bool:
        """Passing: exit 0, or (allowing a failing base) no failure that the base did not have."""
        return passes_against(outcome, self.base, self.allow_failing_base)

    def blame(self, outcome: TestRun) -> str:
        """One sentence naming the first failing test new against the base, or the timeout."""
        if outcome.timed_out:
            return f"the test command did not finish within {self.timeout:g} s with this change"
        known = set(self.base.failing) if self.base and self.allow_failing_base else set()
        new = [t for t in outcome.failing if t not in known]
        if new:
            return f"{new[0]} failed"
        return f"the test command failed (exit status {outcome.status}): {outcome.tail}"

    def search(self, kept: list[_Unit], rest: list[_Unit], failing: TestRun) -> None:
        """Prefix bisection: extend `kept` (passing) with every unit of `rest` that keeps it passing."""
        while rest:
            low, high, high_outcome = 0, len(rest), failing
            innocent = [u for u in rest if u.path not in failing.mentions]
            if 0 < len(innocent) < len(rest):
                rest = innocent + [u for u in rest if u.path in failing.mentions]
                probe = self.run(kept + innocent)
                if self.passes(probe):
                    low = len(innocent)
                else:
                    high, high_outcome = len(innocent), probe
            while high - low > 1:
                mid = (low + high) // 2
                outcome = self.run(kept + rest[:mid])
                if self.passes(outcome):
                    low = mid
                else:
                    high, high_outcome = mid, outcome
            kept.extend(rest[:low])
            culprit, rest = rest[high - 1], rest[high:]
            parts = self.chunks.get(culprit.path, [])
            if culprit.edit is None and len(parts) > 1:
                pieces = [_Unit(e.chunk_id, culprit.path, e) for e in parts]
                self.search(kept, pieces, high_outcome)
            else:
                self.decide(culprit, False, self.blame(high_outcome), high_outcome.output)
            if not rest:
                return
            outcome = self.run(kept + rest)
            if self.passes(outcome):
                kept.extend(rest)
                return
            failing = outcome

    def decide(self, unit: _Unit, kept: bool, detail: str = "", output: str = "") -> None:
        """Record the decision for a unit (for a whole file split into chunks: each chunk)."""
        edits = self.chunks.get(unit.path, []) if unit.edit is None else [unit.edit]
        reason = None if kept else Reason.BREAKS_TESTS
        if not edits:
            self.decisions[unit.unit_id] = GateDecision(
                unit.unit_id, unit.path, kept, reason, detail, output
            )
        for edit in edits:
            self.decisions[edit.chunk_id] = GateDecision(
                edit.chunk_id, unit.path, kept, reason, detail, output
            )


def _checked_chunks(
    changes: Mapping[str, tuple[bytes, bytes]],
    chunk_changes: Mapping[str, Sequence[ChunkEdit]],
) -> dict[str, list[ChunkEdit]]:
    """Chunk edits per changed file, sorted; refuses edits that do not rebuild the file's new bytes."""
    out: dict[str, list[ChunkEdit]] = {}
    for path, edits in chunk_changes.items():
        if path not in changes:
            raise BadEditError(f"chunk edits are given for {path}, which has no change")
        ordered = sorted(edits, key=lambda e: e.start)
        base, new = changes[path]
        if apply_edits(base, ordered) != new:
            raise BadEditError(f"the chunk edits of {path} do not rebuild its new bytes")
        if ordered:
            out[path] = ordered
    return out


def run_test_gate(
    repo: Repository,
    base: str,
    changes: Mapping[str, tuple[bytes, bytes]],
    chunk_changes: Mapping[str, Sequence[ChunkEdit]],
    *,
    test_cmd: str,
    timeout: float,
    allow_failing_base: bool = False,
    base_tests: BaseTests | None = None,
    settle: Callable[[], set[str]] | None = None,
    shadow: Sequence[ShadowTarget] = (),
    select_tests: bool = False,
) -> TestGateResult:
    """Keep the changes under which `test_cmd` passes; drop the culprits with `breaks-tests`, and the
    `shadow` functions whose calls in the first run on every change behave otherwise than their
    originals (a pytest command only) with `behaviour-changed`.

    `base_tests`, the same command's base run started earlier at `base`, stands for the gate's own first
    run: the gate goes on in its worktree with its outcome. `settle` (the import check ran meanwhile)
    gives the paths still in the change; it is asked once the first run on every change is done (or the
    base failed), and the gate goes on with those only: what gating them alone would decide."""
    started = time.perf_counter()
    _check_command(test_cmd, timeout)
    chunks = _checked_chunks(changes, chunk_changes)
    paths = sorted(p for p, (old, new) in changes.items() if old != new)
    early = base_tests if base_tests and base_tests.serves(base, test_cmd, timeout) else None
    with (
        _checkout(repo, base, sorted(changes), early) as tree,
        Measurements() as measurements,
        shadow_run(tree, test_cmd, shadow) as shadowing,
    ):
        gate = _Gate(tree, changes, chunks, test_cmd, timeout, measurements)
        gate.allow_failing_base, gate.shadow = allow_failing_base, shadowing
        base_run = gate.run([]) if early is None else gate.started(early)
        red = _red_base(base_run, timeout, allow_failing_base)
        if red is not None and (settle is None or settle()):
            raise red  # (unless the import check left nothing to gate: then nothing is)
        gate.base, gate.select = base_run, select_tests
        kept = gate.keep([_Unit(path, path, None) for path in paths] if red is None else [], settle)
        for unit in kept:
            gate.decide(unit, True)
        files = {p: b for p, b in gate.contents(kept).items() if b != gate.originals[p]}
        coverage = measurements.read(gate.key(kept), tree) if kept else None
    seconds = time.perf_counter() - started
    history = gate.history
    return TestGateResult(
        gate.decisions, files, len(history), seconds, history, gate.shadow_found, coverage
    )


def _check_command(test_cmd: str, timeout: float) -> None:
    if not test_cmd.strip():
        raise GateError("the test command is empty")
    if timeout <= 0:
        raise GateError(f"the test timeout must be positive, not {timeout:g}")


@contextlib.contextmanager
def _checkout(
    repo: Repository, base: str, paths: list[str], early: BaseTests | None
) -> Iterator[Path]:
    """The gate's worktree: the early base run's, or a new one."""
    if early is not None:
        check_files(early.tree, paths)  # what making the worktree here would check
        yield early.tree
        return
    with scratch_worktree(repo, base, paths) as tree:
        yield tree


def _red_base(outcome: TestRun, timeout: float, allow_failing_base: bool) -> BaseTestsFail | None:
    """The refusal a base run that timed out (or fails, unless allowed) means; None: it may be gated."""
    if outcome.timed_out:
        return BaseTestsFail(
            f"the test command did not finish within {timeout:g} s on the base commit; "
            "raise the timeout or fix the tests"
        )
    if outcome.status != 0 and not allow_failing_base:
        first = outcome.failing[0] if outcome.failing else outcome.tail
        return BaseTestsFail(
            f"the test command already fails on the base commit ({first}); "
            "fix the tests or pass --allow-failing-base"
        )
    return None


def passes_against(outcome: TestRun, base: TestRun | None, allow_failing_base: bool) -> bool:
    """Passing: exit 0, or (allowing a failing base) no failure that the base did not have."""
    if outcome.status == 0:
        return True
    if not allow_failing_base or base is None or outcome.timed_out:
        return False
    if outcome.failing or base.failing:
        return bool(outcome.failing) and set(outcome.failing) <= set(base.failing)
    return outcome.status == base.status


def run_tests_once(
    repo: Repository,
    base: str,
    files: Mapping[str, bytes],
    *,
    test_cmd: str,
    timeout: float,
    shadow: Sequence[ShadowTarget] = (),
) -> tuple[TestRun, dict[str, ShadowOutcome]]:
    """One run of the test command on the base with `files` written over it (a gate turn's check), and
    what its shadow run found of the `shadow` functions (a pytest command only)."""
    with (
        scratch_worktree(repo, base, sorted(files)) as tree,
        shadow_run(tree, test_cmd, shadow) as shadowing,
    ):
        for path, data in files.items():
            overwrite(tree / path, data)
        env = shadowing.environment() if shadowing is not None else None
        outcome = run_command(tree, test_cmd, timeout, sorted(files), env)
        return outcome, shadowing.outcomes() if shadowing is not None else {}
