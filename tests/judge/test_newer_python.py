"""Target-syntax checks do not depend on the Python codemill runs on: the same verdicts under a newer one.

A PEP 701 f-string compiles on Python 3.12+, so only codemill's own checks can reject it for a 3.11 target
there. This runs the validator under the newest Python >= 3.12 found on the machine (pyenv's, or one on
PATH), in a virtual environment made for the test with the library's two runtime needs (libcst, GitPython).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # builds a virtual environment under a newer Python

SCRIPT = r"""
import json, sys
from pipeline.source.chunking import Chunk
from pipeline.judge.policy import Policy
from pipeline.judge.validation import validate

old = 'def bang(name):\n    return "%s!" % name\n'
new = 'def bang(name):\n    return f"{name + "!"}"\n'
union = 'def kind(x):\n    return isinstance(x, "Node" | None)\n'
chunk = Chunk("m.py", 0, len(old), 1, 2, "function", "bang", old)
kind = Chunk("m.py", 0, 40, 1, 2, "function", "kind", 'def kind(x):\n    return isinstance(x, int)\n')
compile(new, "m.py", "exec")  # this interpreter itself accepts the PEP 701 f-string
old_target = validate(chunk, new, policy=Policy(target_python=(3, 11)))
out = {
    "python": list(sys.version_info[:2]),
    "for_311": [str(old_target.status), str(old_target.reason), old_target.detail],
    "for_312": str(validate(chunk, new, policy=Policy(target_python=(3, 12))).status),
    "union": str(validate(kind, union, policy=Policy(target_python=(3, 12))).reason),
}
print(json.dumps(out))
"""


def newer_python() -> Path | None:
    """The newest interpreter of version 3.12 or later on this machine, if any."""
    found: list[tuple[tuple[int, int], Path]] = []
    candidates = [shutil.which(f"python3.{minor}") for minor in range(12, 16)]
    candidates += [str(p) for p in Path.home().glob(".pyenv/versions/3.1[2-9]*/bin/python3")]
    for candidate in filter(None, candidates):
        done = subprocess.run(
            [candidate, "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
        )
        if done.returncode == 0:
            major, minor = map(int, done.stdout.split())
            found.append(((major, minor), Path(candidate)))
    return max(found)[1] if found else None


@pytest.fixture(scope="module")
def newer_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    python = newer_python()
    if python is None:
        pytest.skip("no Python 3.12 or later on this machine (nothing to compare with)")
    venv = tmp_path_factory.mktemp("newer") / "venv"
    subprocess.run([str(python), "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "libcst", "gitpython"],
        check=True,
        capture_output=True,
    )
    return venv / "bin" / "python"


def test_pep701_and_string_unions_rejected_whatever_python_runs_codemill(newer_venv: Path) -> None:
    done = subprocess.run(
        [str(newer_venv), "-c", SCRIPT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert tuple(out["python"]) > sys.version_info[:2] and tuple(out["python"]) >= (3, 12)
    status, reason, detail = out["for_311"]
    assert (status, reason) == ("rejected", "target-syntax") and "3.12" in detail
    assert out["for_312"] == "accepted"
    assert out["union"] == "runtime-annotation"
