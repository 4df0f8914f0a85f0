"""Import and test gates on real git repositories in tmp_path, checked with real subprocesses."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import git
import pytest

from pipeline.gates.import_check import check_imports
from pipeline.gates.scratch import (
    BadEditError,
    ChunkEdit,
    GateError,
    apply_edits,
    module_for,
    overwrite,
    scratch_worktree,
)
from pipeline.gates.suite import BaseTestsFail, failing_tests, run_test_gate
from pipeline.judge.verdicts import Reason

PYTEST = (
    f"PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 {sys.executable} -m pytest -q -rf -p no:cacheprovider tests"
)
# the prefix bisection alone, without the coverage map that guides it (tests/gates/test_guided_bisection.py)
UNGUIDED = f"{PYTEST} -p no:codemill_coverage"

SHAPES = b"""\
from typing import Optional


class Fwd:
    pass


def area(w, h):
    return w * h


def perimeter(w, h):
    return 2 * (w + h)
"""

FILES = {
    "pkg/__init__.py": b"",
    "pkg/shapes.py": SHAPES,
    "pkg/names.py": b"def greet(name):\n    return 'hi ' + name\n",
    "pkg/util.py": b"from pkg.shapes import area\n\n\ndef double(x):\n    return x * 2\n",
    "tests/test_shapes.py": (
        b"from pkg.shapes import area, perimeter\n\n\n"
        b"def test_area():\n    assert area(2, 3) == 6\n\n\n"
        b"def test_perimeter():\n    assert perimeter(2, 3) == 10\n"
    ),
    "tests/test_names.py": (
        b"from pkg.names import greet\n\n\ndef test_greet():\n    assert greet('x') == 'hi x'\n"
    ),
    "tests/test_util.py": (
        b"from pkg.util import double\n\n\ndef test_double():\n    assert double(2) == 4\n"
    ),
}


def make_repo(root: Path, files: dict[str, bytes] = FILES) -> git.Repo:
    """A committed repository with `files`, plus an uncommitted edit the gates must not see."""
    root.mkdir(parents=True, exist_ok=True)
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t"}
    env["GIT_COMMITTER_EMAIL"] = "t@t"
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    subprocess.run(["git", "add", "."], cwd=root, check=True)
    subprocess.run(["git", "commit", "-qm", "base"], cwd=root, check=True, env=env)
    (root / "pkg" / "names.py").write_bytes(b"raise RuntimeError('dirty working tree')\n")
    return git.Repo(root)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file of the working tree (outside .git), byte for byte."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def assert_untouched(repo: git.Repo, before: dict[str, bytes]) -> None:
    root = Path(str(repo.working_tree_dir))
    assert snapshot(root) == before
    assert len(repo.git.worktree("list").splitlines()) == 1


def change(path: str, old: bytes, new: bytes) -> dict[str, tuple[bytes, bytes]]:
    return {path: (FILES[path], FILES[path].replace(old, new))}


# --- shared pieces ---------------------------------------------------------------------------


def test_apply_edits_applies_spans_from_the_end_and_refuses_overlaps() -> None:
    base = b"aaa bbb ccc"
    edits = [ChunkEdit("x::c", 8, 11, b"C"), ChunkEdit("x::a", 0, 3, b"AAAA")]
    assert apply_edits(base, edits) == b"AAAA bbb C"
    assert apply_edits(base, []) == base
    with pytest.raises(BadEditError, match="overlap"):
        apply_edits(base, [ChunkEdit("x::a", 0, 5, b""), ChunkEdit("x::b", 4, 6, b"")])
    with pytest.raises(BadEditError, match="outside"):
        apply_edits(base, [ChunkEdit("x::a", 5, 40, b"")])


def test_overwrite_replaces_bytes_in_place_whether_longer_or_shorter(tmp_path: Path) -> None:
    target = tmp_path / "m.py"
    target.write_bytes(b"x = 1\n" * 50)
    for data in (b"short\n", b"y = 2\n" * 80, b""):
        overwrite(target, data)
        assert target.read_bytes() == data


def test_module_names_follow_packages_and_src_layout(tmp_path: Path) -> None:
    for folder in ("src/pkg/sub", "flat"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "src/pkg/__init__.py").write_bytes(b"")
    (tmp_path / "src/pkg/sub/__init__.py").write_bytes(b"")
    assert module_for(tmp_path, "src/pkg/sub/mod.py") == ("src", "pkg.sub.mod")
    assert module_for(tmp_path, "src/pkg/__init__.py") == ("src", "pkg")
    assert module_for(tmp_path, "flat/tool.py") == ("flat", "tool")
    assert module_for(tmp_path, "setup.py") == (".", "setup")
    assert module_for(tmp_path, "src/pkg/data.txt") is None
    assert module_for(tmp_path, "flat/odd.name.py") is None


# --- import gate -----------------------------------------------------------------------------


def test_import_breakage_is_pinned_on_its_own_file(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    before = snapshot(tmp_path / "repo")
    changes = {
        **change("pkg/shapes.py", b"from typing import Optional\n", b"X = 'Fwd' | None\n"),
        # util imports shapes: with only its own change applied it must still pass
        **change("pkg/util.py", b"x * 2", b"2 * x"),
        # a module that prints at import cannot disturb the checker's protocol
        **change("pkg/names.py", b"def greet", b"print('noise\\tmore')\n\n\ndef greet"),
    }
    results = check_imports(repo, "HEAD", changes, timeout=20)
    assert list(results) == ["pkg/names.py", "pkg/shapes.py", "pkg/util.py"]
    broken = results["pkg/shapes.py"]
    assert (broken.ok, broken.reason, broken.module) == (False, Reason.BREAKS_IMPORT, "pkg.shapes")
    assert broken.detail == "TypeError: unsupported operand type(s) for |: 'str' and 'NoneType'"
    assert results["pkg/util.py"].ok and results["pkg/util.py"].reason is None
    assert results["pkg/names.py"].ok
    assert_untouched(repo, before)


def test_scratch_worktrees_made_and_removed_at_once_never_trip_over_each_other(
    tmp_path: Path,
) -> None:
    # The import check makes one per worker thread; `git worktree add` reads every worktree's records,
    # so without the lock one being removed meanwhile fails it ("failed to read .../commondir").
    repo = make_repo(tmp_path / "repo")
    failures: list[str] = []

    def churn() -> None:
        for _ in range(8):
            try:
                with scratch_worktree(repo, "HEAD", ["pkg/util.py"]) as tree:
                    assert (tree / "pkg" / "util.py").is_file()
            except GateError as exc:
                failures.append(str(exc))

    threads = [threading.Thread(target=churn) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert repo.git.worktree("list").count("\n") == 0  # only the main checkout is left


def test_module_failing_at_base_too_is_not_blamed(tmp_path: Path) -> None:
    files = {**FILES, "pkg/legacy.py": b"import not_installed_anywhere_zz\n\nX = 1\n"}
    repo = make_repo(tmp_path / "repo", files)
    changes = {"pkg/legacy.py": (files["pkg/legacy.py"], files["pkg/legacy.py"] + b"Y = 2\n")}
    result = check_imports(repo, "HEAD", changes, timeout=20, jobs=1)["pkg/legacy.py"]
    assert result.ok and result.reason is None
    assert result.detail.startswith("fails at base too (ModuleNotFoundError: No module named")


def test_import_timeout_is_a_failure_with_its_own_sentence(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    before = snapshot(tmp_path / "repo")
    changes = change("pkg/util.py", b"def double", b"while True:\n    pass\n\n\ndef double")
    result = check_imports(repo, "HEAD", changes, timeout=1.0)["pkg/util.py"]
    assert (result.ok, result.reason) == (False, Reason.BREAKS_IMPORT)
    assert result.detail == "importing pkg.util did not finish within 1 s and was stopped"
    assert_untouched(repo, before)


def test_test_module_outside_packages_sees_the_repository_root(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    path = "tests/test_names.py"
    changes = {path: (FILES[path], FILES[path] + b"ALIAS = 'Fwd' | None\n")}
    result = check_imports(repo, "HEAD", changes, timeout=20)[path]
    assert (result.ok, result.module, result.reason) == (False, "test_names", Reason.BREAKS_IMPORT)
    assert result.detail.startswith("TypeError: unsupported operand type(s) for |")


def test_import_that_ends_the_process_is_reported(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    changes = change("pkg/util.py", b"def double", b"import os\n\nos._exit(3)\n\n\ndef double")
    result = check_imports(repo, "HEAD", changes, timeout=20)["pkg/util.py"]
    assert (result.ok, result.reason) == (False, Reason.BREAKS_IMPORT)
    assert result.detail == "importing pkg.util ended the process (exit status 3)"


def test_import_gate_refuses_paths_outside_the_repository(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    with pytest.raises(BadEditError, match="not a plain path"):
        check_imports(repo, "HEAD", {"../evil.py": (b"", b"x = 1\n")})
    with pytest.raises(BadEditError, match="not a regular file at the base commit"):
        check_imports(repo, "HEAD", {"pkg/new.py": (b"", b"x = 1\n")})
    assert len(repo.git.worktree("list").splitlines()) == 1


# --- failing test ids ------------------------------------------------------------------------


def test_failing_ids_parsed_from_real_pytest_and_unittest_output(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "__init__.py").write_bytes(b"")
    (tmp_path / "tests" / "test_x.py").write_bytes(
        b"import unittest\n\n\nclass TestX(unittest.TestCase):\n"
        b"    def test_ok(self):\n        pass\n\n"
        b"    def test_bad(self):\n        self.assertEqual(1, 2)\n\n"
        b"    def test_err(self):\n        raise KeyError('k')\n"
    )
    run = {"cwd": tmp_path, "capture_output": True, "text": True}
    unit = subprocess.run([sys.executable, "-m", "unittest", "tests.test_x"], **run)  # type: ignore[call-overload]
    assert set(failing_tests(unit.stderr)) == {
        "tests.test_x.TestX.test_bad",
        "tests.test_x.TestX.test_err",
    }
    for flags in (["-q", "-rf"], ["-v"]):
        done = subprocess.run(  # type: ignore[call-overload]
            [sys.executable, "-m", "pytest", *flags, "-p", "no:cacheprovider", "tests"], **run
        )
        ids = failing_tests(done.stdout)
        assert ids[0] == "tests/test_x.py::TestX::test_bad", done.stdout
        assert "tests/test_x.py::TestX::test_ok" not in ids
    assert failing_tests("FAIL: test_y (tests.test_x.TestX)\n") == ("tests.test_x.TestX.test_y",)


# --- test gate -------------------------------------------------------------------------------


def test_change_breaking_one_test_is_dropped_and_the_rest_kept(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    before = snapshot(tmp_path / "repo")
    changes = {
        **change("pkg/names.py", b"'hi ' + name", b"f'hi {name}'"),
        **change("pkg/shapes.py", b"return w * h", b"return w * h + 1"),
        **change("pkg/util.py", b"x * 2", b"x + x"),
    }
    result = run_test_gate(repo, "HEAD", changes, {}, test_cmd=UNGUIDED, timeout=60)
    dropped = result.decisions["pkg/shapes.py"]
    assert (dropped.kept, dropped.reason) == (False, Reason.BREAKS_TESTS)
    assert dropped.detail == "tests/test_shapes.py::test_area failed"
    assert result.decisions["pkg/names.py"].kept and result.decisions["pkg/util.py"].kept
    assert result.files == {p: changes[p][1] for p in ("pkg/names.py", "pkg/util.py")}
    # base, all, prefix [names] passes, prefix [names, shapes] fails -> shapes; [names, util] passes
    assert result.runs == 5
    assert [r.status == 0 for r in result.history] == [True, False, True, False, True]
    assert result.seconds > 0
    assert_untouched(repo, before)


def test_culprit_named_in_a_traceback_is_tried_first(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    changes = {
        **change("pkg/names.py", b"'hi ' + name", b"'hi ' + name.upper(1)"),
        **change("pkg/shapes.py", b"return w * h", b"return h * w"),
        **change("pkg/util.py", b"x * 2", b"x + x"),
    }
    result = run_test_gate(repo, "HEAD", changes, {}, test_cmd=PYTEST, timeout=60)
    assert [d.unit_id for d in result.dropped] == ["pkg/names.py"]
    assert result.dropped[0].detail == "tests/test_names.py::test_greet failed"
    assert result.history[1].mentions == {"pkg/names.py"}
    # base, all (traceback through pkg/names.py), everything but names passes: no bisection
    assert result.runs == 3


def test_all_passing_takes_two_runs(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    changes = change("pkg/util.py", b"x * 2", b"x + x")
    result = run_test_gate(repo, "HEAD", changes, {}, test_cmd=PYTEST, timeout=60)
    assert result.runs == 2 and not result.dropped
    assert result.files == {"pkg/util.py": changes["pkg/util.py"][1]}


def test_only_the_breaking_chunk_of_a_file_is_dropped(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    before = snapshot(tmp_path / "repo")
    base = FILES["pkg/shapes.py"]
    good_at = base.index(b"def area")
    good_end = base.index(b"def perimeter")
    good = ChunkEdit(
        "pkg/shapes.py::area", good_at, good_end, b"def area(w, h):\n    return h * w\n\n\n"
    )
    bad = ChunkEdit(
        "pkg/shapes.py::perimeter", good_end, len(base), b"def perimeter(w, h):\n    return w + h\n"
    )
    new = apply_edits(base, [good, bad])
    changes = {"pkg/shapes.py": (base, new), **change("pkg/util.py", b"x * 2", b"x + x")}
    result = run_test_gate(
        repo, "HEAD", changes, {"pkg/shapes.py": [bad, good]}, test_cmd=UNGUIDED, timeout=60
    )
    assert set(result.decisions) == {
        "pkg/shapes.py::area",
        "pkg/shapes.py::perimeter",
        "pkg/util.py",
    }
    assert result.decisions["pkg/shapes.py::area"].kept
    assert result.decisions["pkg/util.py"].kept
    dropped = result.decisions["pkg/shapes.py::perimeter"]
    assert (dropped.kept, dropped.reason) == (False, Reason.BREAKS_TESTS)
    assert dropped.detail == "tests/test_shapes.py::test_perimeter failed"
    assert result.files["pkg/shapes.py"] == apply_edits(base, [good])
    # base, all, files: [shapes] fails -> shapes; chunks: [area] passes -> perimeter; [area, util]
    assert result.runs == 5
    assert_untouched(repo, before)


def test_failing_base_raises_unless_allowed(tmp_path: Path) -> None:
    files = {
        **FILES,
        "tests/test_old.py": b"def test_already_broken():\n    assert False\n",
    }
    repo = make_repo(tmp_path / "repo", files)
    changes = {
        **change("pkg/util.py", b"x * 2", b"x + x"),
        **change("pkg/names.py", b"'hi ' + name", b"'hello ' + name"),
    }
    with pytest.raises(BaseTestsFail, match=r"already fails on the base commit \(tests/test_old"):
        run_test_gate(repo, "HEAD", changes, {}, test_cmd=UNGUIDED, timeout=60)
    assert len(repo.git.worktree("list").splitlines()) == 1
    result = run_test_gate(
        repo, "HEAD", changes, {}, test_cmd=UNGUIDED, timeout=60, allow_failing_base=True
    )
    assert result.decisions["pkg/util.py"].kept
    names = result.decisions["pkg/names.py"]
    assert not names.kept and names.detail == "tests/test_names.py::test_greet failed"
    assert result.runs == 4  # base, all, [names] fails -> names, [util] passes


def test_test_timeout_counts_as_failure(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    before = snapshot(tmp_path / "repo")
    changes = change("pkg/util.py", b"return x * 2", b"while True:\n        pass")
    result = run_test_gate(repo, "HEAD", changes, {}, test_cmd=PYTEST, timeout=3)
    dropped = result.decisions["pkg/util.py"]
    assert (dropped.kept, dropped.reason) == (False, Reason.BREAKS_TESTS)
    assert dropped.detail == "the test command did not finish within 3 s with this change"
    assert result.runs == 2 and result.history[1].timed_out and not result.files
    assert_untouched(repo, before)


def test_test_gate_refuses_bad_input(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    changes = change("pkg/util.py", b"x * 2", b"x + x")
    with pytest.raises(GateError, match="empty"):
        run_test_gate(repo, "HEAD", changes, {}, test_cmd=" ", timeout=5)
    wrong = {"pkg/util.py": [ChunkEdit("pkg/util.py::double", 0, 1, b"")]}
    with pytest.raises(BadEditError, match="do not rebuild"):
        run_test_gate(repo, "HEAD", changes, wrong, test_cmd=PYTEST, timeout=5)
    with pytest.raises(BadEditError, match="no change"):
        run_test_gate(repo, "HEAD", changes, {"pkg/x.py": []}, test_cmd=PYTEST, timeout=5)
