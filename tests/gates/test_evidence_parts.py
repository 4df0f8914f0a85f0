"""The parts of a change's evidence, each alone: where the default test gate is found, which lines of the
new file a chunk changed (as coverage numbers them), the Evidence record, and the coverage plugin in a real
pytest run (one context per test; a pytest the tests start measures nothing)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support.gitrepo import make_repo

from pipeline.config import EVIDENCE_LEVELS, ConfigError, load_config
from pipeline.evidence.changed_lines import Edit, changed_in_text, new_lines_by_chunk
from pipeline.evidence.coverage_map import read_coverage
from pipeline.evidence.levels import Evidence, Level, counts, counts_line, exercised
from pipeline.gates.discovery import find_pytest_suite
from pipeline.gates.measure import measuring_env
from pipeline.repository import open_repository


@pytest.mark.parametrize(
    ("files", "found"),
    [
        (
            {"pyproject.toml": "[tool.pytest.ini_options]\n"},
            "[tool.pytest.ini_options] in pyproject.toml",
        ),
        ({"setup.cfg": "[tool:pytest]\naddopts = -q\n"}, "[tool:pytest] in setup.cfg"),
        ({"pytest.ini": "[pytest]\n"}, "[pytest] in pytest.ini"),
        ({"tox.ini": "[tox]\n[pytest]\n"}, "[pytest] in tox.ini"),
        ({"tests/test_a.py": "", "src/b_test.py": ""}, "src/"),
        ({"test_top.py": ""}, "test_top.py"),
        ({"pyproject.toml": "[tool.black]\n", "setup.cfg": "[flake8]\n", "testing.py": ""}, None),
        ({"pyproject.toml": "not = [toml", "tox.ini": "[tox\n"}, None),
    ],
)
def test_the_default_gate_is_found_from_pytest_config_or_test_files(
    tmp_path: Path, files: dict[str, str], found: str | None
) -> None:
    repo = make_repo(tmp_path / "repo", {"mod.py": "x = 1\n", **files})
    handle = open_repository(repo)
    assert find_pytest_suite(handle, handle.head.commit.hexsha) == found


def test_the_gate_reads_the_base_commit_not_the_checkout(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"mod.py": "x = 1\n"})
    (repo / "test_new.py").write_text("def test_x():\n    pass\n")  # not committed
    handle = open_repository(repo)
    assert find_pytest_suite(handle, handle.head.commit.hexsha) is None


def test_changed_lines_move_to_the_statement_coverage_records() -> None:
    old = "def f(a, b):\n    total = g(\n        a,\n        b,\n    )\n    return total\n"
    new = "def f(a, b):\n    total = g(\n        a + 1,\n        b,\n    )\n    return total\n"
    assert changed_in_text(old, new) == {2}
    edit = Edit("f", 10, 10 + len(old), new.encode(), old, new)
    before = b"import g\n\n"  # 10 bytes, two lines before the chunk
    # line 5 changed; coverage records the call's statement at line 4
    assert new_lines_by_chunk(before + new.encode(), [edit]) == {"f": {4, 5}}


def test_a_later_chunk_is_found_after_an_earlier_one_grew() -> None:
    first_old, first_new = "def a():\n    return 1\n", "def a():\n    x = 1\n    return x\n"
    second_old = second_new_text = "def b():\n    return 2\n"
    second_new = second_new_text.replace("2", "3")
    base = (first_old + "\n" + second_old).encode()
    start = len(first_old) + 1
    edits = [
        Edit("a", 0, len(first_old), first_new.encode(), first_old, first_new),
        Edit("b", start, len(base), second_new.encode(), second_old, second_new),
    ]
    new_file = (first_new + "\n" + second_new).encode()
    assert new_lines_by_chunk(new_file, edits) == {"a": {2, 3}, "b": {6}}


def test_a_pure_deletion_marks_the_line_after_it() -> None:
    assert changed_in_text("a\nb\nc\n", "a\nc\n") == {1}


def test_evidence_records_round_trip_and_rank() -> None:
    seen = exercised(["t::c", "t::a", "t::b", "t::a", "t::d"])
    assert (seen.tests, seen.test_ids) == (4, ("t::a", "t::b", "t::c"))
    assert seen.text() == "exercised by 4 tests (t::a, t::b, t::c, +1 more)"
    assert Evidence.from_json(seen.to_json()) == seen
    assert seen.at_least(Level.IMPORTED) and not seen.at_least(Level.SHADOWED)
    assert (
        seen.shadowed(7).text()
        == "shadowed: 7 calls compared, all equal; exercised by 4 tests (t::a, t::b, t::c, +1 more)"
    )
    assert tuple(str(level) for level in Level) == EVIDENCE_LEVELS  # the setting's choices
    by_level = counts([Level.STATIC, Level.EXERCISED, Level.SHADOWED, Level.EXERCISED])
    assert counts_line(4, by_level) == "4 accepted: 1 shadowed, 2 exercised, 1 static"


SUITE = {
    "calc.py": "def one():\n    return 1\n\n\ndef two():\n    return 2\n",
    "test_calc.py": (
        "import os, subprocess, sys\n\nfrom calc import one\n\n\n"
        "def test_one():\n    assert one() == 1\n\n\n"
        "def test_nested_pytest_measures_nothing(tmp_path):\n"
        "    (tmp_path / 'test_x.py').write_text('def test_x():\\n    pass\\n')\n"
        "    done = subprocess.run([sys.executable, '-m', 'pytest', '-q', str(tmp_path)], cwd=tmp_path)\n"
        "    assert done.returncode == 0\n"
        "    assert 'codemill_coverage' not in os.environ.get('PYTEST_ADDOPTS', '')\n"
    ),
}


def test_the_plugin_records_one_context_per_test(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    for name, text in SUITE.items():
        (tree / name).write_text(text)
    data = tmp_path / "run.coverage"
    env = {"PATH": str(Path(sys.executable).parent), **measuring_env(data, ["calc.py"])}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=tree, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr

    measured = read_coverage(data, tree)
    assert measured is not None
    assert measured.contexts("calc.py", [2]) == {"test_calc.py::test_one"}
    assert measured.contexts("calc.py", [6]) == set()  # two() never ran
    assert "" in measured.contexts("calc.py", [1])  # the def ran at import, outside any test
    assert measured.tests_reaching(["calc.py"]) == {"test_calc.py::test_one"}
    assert read_coverage(tmp_path / "absent.coverage", tree) is None


def test_the_evidence_settings_come_from_the_repository_and_are_checked(tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    (tmp_path / "pyproject.toml").write_text(
        '[tool.codemill]\nrequire-evidence = "exercised"\nno-test-gate = true\n'
    )
    config = load_config(tmp_path, {}, env)
    assert (config.require_evidence, config.no_test_gate, config.fail_on_unproven) == (
        "exercised",
        True,
        False,
    )
    assert load_config(tmp_path, {"require_evidence": "static"}, env).require_evidence == "static"
    with pytest.raises(ConfigError, match="--require-evidence='proven'"):
        load_config(tmp_path, {"require_evidence": "proven"}, env)
