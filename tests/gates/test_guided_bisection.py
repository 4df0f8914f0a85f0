"""The test gate's bisection guided by the failing run's coverage: only the changes its failing tests ran
are searched, the runs meanwhile name only the tests that reach them, and the kept set passes the whole
suite once; when the map missed a path (a change that runs only at import), the gate searches again over
everything and still blames right. (Without the map the same culprit takes more runs: bench/evidence.py.)"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import git

from pipeline.gates.suite import run_test_gate

PYTEST = f"{sys.executable} -m pytest -q -p no:cacheprovider"
MODULES = 8


def module(i: int, value: int) -> bytes:
    return f"def value_{i}():\n    return {value}\n".encode()


def make(tmp_path: Path, extra: dict[str, bytes] | None = None, modules: int = MODULES) -> git.Repo:
    files = {f"mods/m{i}.py": module(i, i) for i in range(modules)}
    files["mods/__init__.py"] = b""
    for i in range(modules):
        files[f"tests/test_m{i}.py"] = (
            f"from mods.m{i} import value_{i}\n\n\n"
            f"def test_value_{i}():\n    assert value_{i}() == {i}\n"
        ).encode()
    files.update(extra or {})
    repo = git.Repo.init(tmp_path / "repo")
    for path, data in files.items():
        (tmp_path / "repo" / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "repo" / path).write_bytes(data)
    repo.index.add(list(files))
    repo.index.commit("base")
    return repo


def changes_breaking(culprit: int, modules: int = MODULES) -> dict[str, tuple[bytes, bytes]]:
    """Every module rewritten (`return i` -> `return (i)`), the culprit's value changed."""
    out = {}
    for i in range(modules):
        new = module(i, i + 1) if i == culprit else f"def value_{i}():\n    return ({i})\n".encode()
        out[f"mods/m{i}.py"] = (module(i, i), new)
    return out


def passed_counts(outputs: list[str]) -> list[int]:
    return [int(m.group(1)) if (m := re.search(r"(\d+) passed", o)) else 0 for o in outputs]


def test_a_guided_search_blames_the_one_culprit_in_three_runs(tmp_path: Path) -> None:
    repo = make(tmp_path)
    changes = changes_breaking(5)

    guided = run_test_gate(
        repo, "HEAD", changes, {}, test_cmd=PYTEST, timeout=120, select_tests=True
    )

    assert [d.path for d in guided.dropped] == ["mods/m5.py"]
    assert "test_value_5" in guided.dropped[0].detail
    assert sorted(guided.files) == [f"mods/m{i}.py" for i in range(MODULES) if i != 5]
    # base, all changes, then the kept set on the whole suite: the map named the culprit alone
    assert guided.runs == 3
    assert passed_counts([r.output for r in guided.history]) == [8, 7, 8]


def test_a_change_the_map_cannot_see_is_still_found_by_searching_everything(
    tmp_path: Path,
) -> None:
    constant = {"mods/k.py": b"K = 1\n"}
    uses = {"mods/m1.py": b"from mods.k import K\n\n\ndef value_1():\n    return K\n"}
    repo = make(tmp_path, {**constant, **uses}, modules=4)
    changes = changes_breaking(3, modules=4)
    del changes["mods/m1.py"]
    changes["mods/k.py"] = (b"K = 1\n", b"K = 2\n")  # runs at import only: no test context has it

    result = run_test_gate(
        repo, "HEAD", changes, {}, test_cmd=PYTEST, timeout=120, select_tests=True
    )

    assert sorted(d.path for d in result.dropped) == ["mods/k.py", "mods/m3.py"]
    assert "mods/k.py" not in result.files and "mods/m3.py" not in result.files


SHARED = {
    "tests/test_pair.py": (
        b"from mods.m1 import value_1\nfrom mods.m2 import value_2\n\n\n"
        b"def test_pair():\n    assert value_1() + value_2() == 3\n"
    ),
}


def test_the_runs_of_a_guided_search_name_only_the_tests_that_reach_its_changes(
    tmp_path: Path,
) -> None:
    repo = make(tmp_path, SHARED)
    changes = changes_breaking(2)  # m1 and m2 both reached by test_pair, which fails

    guided = run_test_gate(
        repo, "HEAD", changes, {}, test_cmd=PYTEST, timeout=120, select_tests=True
    )

    assert [d.path for d in guided.dropped] == ["mods/m2.py"]
    counts = passed_counts([r.output for r in guided.history])
    assert counts[0] == counts[-1] == 9  # the base and the kept set: the whole suite
    assert all(n <= 3 for n in counts[2:-1]) and len(counts) > 3  # test_m1, test_m2, test_pair
