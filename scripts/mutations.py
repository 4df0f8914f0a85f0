"""Break each rule of a run on purpose, one line at a time, and show that the tests notice.

Each mutation is a (file, search text, replacement) applied to the source tree this script lives in, then
the test files that should catch it run with `-x`; a mutation is *caught* when they fail. The file is
restored after every mutation, also on Ctrl-C or an error. A search text that is no longer in its file
(exactly once) is reported as `stale`: the rule moved, so the mutation must follow it.

    python scripts/mutations.py                 # all; a Markdown table for bench/RESULTS.md
    python scripts/mutations.py --only dry-run  # the mutations whose name contains "dry-run"
    python scripts/mutations.py --list

The tests of the chosen mutations first run once on the unmutated tree: if they fail there, nothing is
reported as caught.

Exit status: 0 when every mutation was caught, 1 when one survived, is stale, or the baseline fails.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    """One deliberate bug: where, what it replaces, and the tests that must fail because of it."""

    name: str
    path: str
    search: str
    replace: str
    tests: tuple[str, ...]

    @property
    def needs_prefect(self) -> bool:
        """Whether its tests run the real CLI (one Prefect server serves every such pytest run)."""
        return any(t.startswith("tests/cli/") for t in self.tests)


CLI_MODEL = "tests/cli/test_model_promises.py"
CLI_RUN = "tests/cli/test_run_promises.py"
CLI_REPLAY = "tests/cli/test_replay_promises.py"

MODEL_FATAL = f"{CLI_MODEL}::test_exhausted_credits_stop_the_run_with_exit_3"
MODEL_BUDGET = (
    f"{CLI_MODEL}::test_max_cost_lets_the_requests_in_flight_finish_commits_them_and_saves_no_state"
)
MODEL_CACHE = (
    f"{CLI_MODEL}::test_a_fatal_error_keeps_what_was_accepted_and_the_cache_flags_do_what_they_say"
)
RUN_GATES = f"{CLI_RUN}::test_dry_runs_gate_too_and_the_gates_follow_their_flags"

MUTATIONS = (
    Mutation(
        "state saved after a fatal run",
        "pipeline/run/execute.py",
        "if setup.branch is not None and not stopped and self.stop.reason is None:",
        "if setup.branch is not None:",
        (MODEL_FATAL,),
    ),
    Mutation(
        "state saved after a budget stop",
        "pipeline/run/execute.py",
        "if setup.branch is not None and not stopped and self.stop.reason is None:",
        "if setup.branch is not None and not stopped:",
        (MODEL_BUDGET,),
    ),
    Mutation(
        "dry runs skip the gates",
        "pipeline/run/execute.py",
        "if not changes or self.interrupts.signum is not None:",
        "if not changes or self.interrupts.signum is not None or self.setup.branch is None:",
        (RUN_GATES,),
    ),
    Mutation(
        "codemod engine's import check off by default",
        "pipeline/gates/combined.py",
        'config.import_check if config.import_check is not None else engine == "codemod"',
        "config.import_check if config.import_check is not None else False",
        ("tests/gates/test_gating.py", RUN_GATES),
    ),
    Mutation(
        "--no-import-check ignored",
        "pipeline/gates/combined.py",
        'config.import_check if config.import_check is not None else engine == "codemod"',
        'engine == "codemod"',
        ("tests/gates/test_gating.py", RUN_GATES),
    ),
    Mutation(
        "a fatal provider error exits 0",
        "pipeline/run/result.py",
        "            return ExitCode.PROVIDER\n",
        "            return ExitCode.DONE\n",
        (MODEL_FATAL,),
    ),
    Mutation(
        "--fail-on-changes exits 0",
        "flows/run_command.py",
        "            code = 4\n",
        "            code = 0\n",
        ("tests/cli/test_ci_features.py::test_fail_on_changes_junit_and_step_summary",),
    ),
    Mutation(
        "an internal failure exits 2",
        "flows/cli.py",
        'raise typer.Exit(fail(f"internal error: {type(exc).__name__}: {exc}", 1))',
        'raise typer.Exit(fail(f"internal error: {type(exc).__name__}: {exc}", 2))',
        (f"{CLI_RUN}::test_an_internal_failure_exits_1_and_debug_shows_the_traceback",),
    ),
    Mutation(
        "the budget is never exhausted",
        "pipeline/engines/spend.py",
        "return self.max_cost is not None and self.spent >= self.max_cost - COST_SLACK",
        "return False",
        ("tests/engines/test_engines.py", MODEL_BUDGET),
    ),
    Mutation(
        "the API key is not redacted",
        "pipeline/redact.py",
        "    return text.replace(secret, MASK)",
        "    return text",
        ("tests/test_redact.py", "tests/model/test_model_faults.py"),
    ),
    Mutation(
        "URL user-info is not redacted",
        "pipeline/redact.py",
        "return _USER_INFO.sub(lambda m: f\"{m.group('scheme')}{MASK}@\", url)",
        "return url",
        ("tests/test_redact.py", "tests/test_repository.py"),
    ),
    Mutation(
        "push errors show git's stderr unredacted",
        "pipeline/repository.py",
        "raise PushError(redact_text(message), result)",
        "raise PushError(message, result)",
        ("tests/test_repository.py",),
    ),
    Mutation(
        "files with nothing to send get no ledger row",
        "pipeline/source/chunking.py",
        "    if not plan.chunks:\n        return SkippedFile(src.path, SkipReason.NO_STATEMENTS",
        "    if False:\n        return SkippedFile(src.path, SkipReason.NO_STATEMENTS",
        ("tests/run/test_runner.py",),
    ),
    Mutation(
        "--no-cache still uses the cache",
        "pipeline/run/model_run.py",
        "    if config.no_cache:\n        return None\n",
        "    if False:\n        return None\n",
        (MODEL_CACHE,),
    ),
    Mutation(
        "--refresh-cache is ignored",
        "pipeline/engines/model_engine.py",
        "refresh_cache=config.refresh_cache,",
        "refresh_cache=False,",
        (MODEL_CACHE,),
    ),
    Mutation(
        "a repeated change makes a new branch",
        "pipeline/run/execute.py",
        "if setup.branch is not None and state.same_change(setup.last, fingerprint, bool(changes))",
        "if False",
        (f"{CLI_REPLAY}::test_a_repeated_change_says_same_change_in_its_summary",),
    ),
)


def run_one(mutation: Mutation, python: str) -> tuple[str, str, float]:
    """Apply, test, restore: ('caught' | 'SURVIVED' | 'stale', the first failing test, seconds)."""
    target = ROOT / mutation.path
    original = target.read_bytes()
    text = original.decode("utf-8")
    if text.count(mutation.search) != 1:
        return "stale", "", 0.0
    started = time.perf_counter()
    try:
        target.write_text(text.replace(mutation.search, mutation.replace), encoding="utf-8")
        done = subprocess.run(
            [python, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *mutation.tests],
            cwd=ROOT,
            env=_this_tree_first(),
            capture_output=True,
            text=True,
        )
    finally:
        target.write_bytes(original)
    seconds = time.perf_counter() - started
    if done.returncode == 0:
        return "SURVIVED", "", seconds
    failed = re.search(r"^(?:FAILED|ERROR) (\S+)", done.stdout, re.MULTILINE)
    return "caught", failed.group(1) if failed else f"pytest exit {done.returncode}", seconds


def _this_tree_first() -> dict[str, str]:
    """The environment with this tree first on the path: the `codemill` processes the CLI tests start
    import the mutated code even when the installed package points at another checkout."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM too unwinds through run_one's `finally`: the file is restored


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="run the mutations whose name contains this")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    args = parser.parse_args()
    chosen = [m for m in MUTATIONS if args.only in m.name]
    if args.list:
        for m in chosen:
            print(f"{m.name}: {m.path}")
        return 0
    signal.signal(signal.SIGTERM, _interrupt)
    with tempfile.TemporaryDirectory(prefix="mutations-prefect-") as home:
        if any(m.needs_prefect for m in chosen):
            sys.path.insert(0, str(ROOT / "tests"))
            from support.prefect_server import prefect_server

            with prefect_server(Path(home)) as api:
                os.environ.update(TESTS_PREFECT_API_URL=api, TESTS_PREFECT_HOME=home)
                return run_all(chosen)
        return run_all(chosen)


def baseline(chosen: list[Mutation], python: str) -> bool:
    """Whether the chosen mutations' tests pass on the unmutated tree: only then does a failure under a
    mutation mean the tests noticed it (and not that they fail anyway)."""
    tests = sorted({t for m in chosen for t in m.tests})
    done = subprocess.run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
        cwd=ROOT,
        env=_this_tree_first(),
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        print(f"the tests fail with no mutation applied:\n{done.stdout[-3000:]}", file=sys.stderr)
    return done.returncode == 0


def run_all(chosen: list[Mutation]) -> int:
    """Check the baseline, then run each mutation and print its row; 1 if any survived or is stale."""
    if not baseline(chosen, sys.executable):
        return 1
    print("| mutation | file | result | caught by | seconds |\n| --- | --- | --- | --- | --- |")
    bad = 0
    for mutation in chosen:
        result, test, seconds = run_one(mutation, sys.executable)
        bad += result != "caught"
        where = f"`{test}`" if test else "; ".join(mutation.tests)
        print(f"| {mutation.name} | `{mutation.path}` | {result} | {where} | {seconds:.0f} |")
        sys.stdout.flush()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
