"""Check that the fast test set (`-m "not slow"`) exercises every module of pipeline/ and flows/.

Runs the fast set under coverage (pytest-cov; configured in pyproject.toml), then lists each module's share of
statements run and fails when one is under FLOOR: a module only the slow tests (or no test) reach would
go untested by the command people run while developing.

    python scripts/module_coverage.py              # run the fast set under coverage, then check
    python scripts/module_coverage.py --no-run     # check the data of the last run (.coverage)

Exit status: 0 when every module reaches the floor, 1 otherwise (or when the fast set fails).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import coverage

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pipeline", "flows")
FLOOR = 50.0  # percent of a module's statements the fast set must run
# Modules whose code runs where coverage of the test process cannot see it; each must still be imported.
ELSEWHERE = {
    "pipeline/gates/import_server.py": "runs in the import check's child process (tests/gates drive it)",
    "pipeline/gates/plugin/codemill_coverage.py": "runs in the test gate's pytest process "
    "(tests/gates/test_evidence_cli.py drives it)",
    "flows/refactor.py": "the Prefect flow's body runs only against a Prefect server (the slow tests)",
}


def modules() -> list[Path]:
    """Every Python module of the packages, `__init__.py` included."""
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def shares(cov: coverage.Coverage) -> dict[str, float]:
    """Percent of statements run, per module (100 for a module with no statement)."""
    out = {}
    for path in modules():
        _, statements, _, missing, _ = cov.analysis2(str(path))
        run = len(statements) - len(missing)
        out[path.relative_to(ROOT).as_posix()] = (
            100.0 * run / len(statements) if statements else 100.0
        )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-run", action="store_true", help="check the last run's data only")
    args = parser.parse_args()
    if not args.no_run:
        # pytest-cov, not `coverage run`: it measures xdist's workers too and combines their data.
        command = [sys.executable, "-m", "pytest", "-q", "-m", "not slow", "--cov", "--cov-report="]
        if subprocess.run([*command, "-p", "no:cacheprovider"], cwd=ROOT).returncode != 0:
            print("module coverage: the fast set failed", file=sys.stderr)
            return 1
    cov = coverage.Coverage(data_file=str(ROOT / ".coverage"))
    cov.load()
    found = shares(cov)
    low = {
        name: share
        for name, share in found.items()
        if share < FLOOR and not (name in ELSEWHERE and share > 0)
    }
    for name, share in sorted(found.items(), key=lambda item: item[1]):
        note = "   <- under the floor" if name in low else ""
        if name in ELSEWHERE and not note:
            note = f"   (exempt: {ELSEWHERE[name]})"
        print(f"{share:5.1f}%  {name}{note}")
    print(f"module coverage: {len(found)} modules, {len(low)} under {FLOOR:g}%")
    return 1 if low else 0


if __name__ == "__main__":
    sys.exit(main())
