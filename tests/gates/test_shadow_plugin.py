"""The shadow plugin's own rules, in this process: what counts as equal, how each kind of definition is bound,
what cannot be compared and why, that the caller always gets the new version's outcome, and the spec and
results files around it (the gate's pytest run is tests/gates/test_shadow_cli.py)."""

from __future__ import annotations

import json
import os
import sys
import textwrap
import threading
import types
from pathlib import Path
from typing import Any

import pytest

from pipeline.engines.proposal import Proposal
from pipeline.gates.shadow import plugin
from pipeline.gates.shadow.plugin import Tally, install, same
from pipeline.gates.shadow.results import read_outcomes
from pipeline.gates.shadow.spec import ShadowTarget, runs_pytest, shadow_run, targets_of
from pipeline.judge.verdicts import Verdict
from pipeline.source.chunking import chunk_module

NEW = """
import random
import time

LIMIT = 10


def clamp(x):
    return min(x, LIMIT)


def strict(x):
    if x < 0:
        raise ValueError(x)
    return x


def push(items, x):
    items.append(x)
    return len(items)


def fact(n):
    return 1 if n <= 1 else n * fact(n - 1)


def noisy():
    return random.random()


def clock():
    return time.monotonic_ns()


def touch(path):
    with open(path, "a") as handle:
        handle.write("x")
    return 1


def pure(path):
    return len(path)


def evens(n):
    yield from range(0, n, 2)


async def later():
    return 1


def locked(lock):
    return 1


COUNT = 0


def chatty(x):
    import logging
    import warnings

    print("called", x)
    logging.getLogger("chatty").warning("called %s", x)
    warnings.warn("called", UserWarning, stacklevel=1)
    return x


def bump():
    global COUNT
    COUNT += 1
    return COUNT


class Point:
    def __init__(self, x):
        self.x = x

    def scaled(self, k):
        return Point(self.x * k)

    @staticmethod
    def origin():
        return 0

    @classmethod
    def make(cls, x):
        return cls(x)

    @property
    def norm(self):
        return abs(self.x)

    def __secret(self):
        return 7

    def secret(self):
        return self.__secret()

    made = 0

    @classmethod
    def counted(cls):
        cls.made += 1
        return cls.made


class Point3(Point):
    def scaled(self, k):
        return super().scaled(k)
"""
ORIGINALS = {
    "clamp": "def clamp(x):\n    return max(x, LIMIT)\n",
    "strict": "def strict(x):\n    if x < 0:\n        raise TypeError(x)\n    return x\n",
    "push": "def push(items, x):\n    items.append(x)\n    items.append(x)\n    return len(items) - 1\n",
    "fact": "def fact(n):\n    return 1 if n <= 1 else n * fact(n - 1)\n",
    "noisy": "def noisy():\n    return random.random()\n",
    "clock": "def clock():\n    return time.monotonic_ns()\n",
    "touch": "def touch(path):\n    with open(path, 'a') as f:\n        f.write('x')\n    return 1\n",
    "pure": "def pure(path):\n    with open(path) as handle:\n        return len(path)\n",
    "evens": "def evens(n):\n    yield from range(0, n, 2)\n",
    "later": "async def later():\n    return 1\n",
    "locked": "def locked(lock):\n    return 2\n",
    "chatty": (
        "def chatty(x):\n    import logging, warnings\n    print('called', x)\n"
        "    logging.getLogger('chatty').warning('called %s', x)\n"
        "    warnings.warn('called', UserWarning, stacklevel=1)\n    return x\n"
    ),
    "bump": "def bump():\n    global COUNT\n    COUNT += 1\n    return COUNT\n",
    "Point.scaled": "def scaled(self, k):\n    return Point(self.x * k)\n",
    "Point.origin": "@staticmethod\ndef origin():\n    return 1\n",
    "Point.make": "@classmethod\ndef make(cls, x):\n    return cls(x)\n",
    "Point.norm": "@property\ndef norm(self):\n    return self.x\n",
    "Point.secret": "def secret(self):\n    return self.__secret()\n",
    "Point.counted": "@classmethod\ndef counted(cls):\n    cls.made += 1\n    return cls.made\n",
    "Point3.scaled": "def scaled(self, k):\n    return super().scaled(k)\n",
}


@pytest.fixture
def shadowed() -> tuple[types.ModuleType, dict[str, Tally]]:
    """The module NEW with every function of ORIGINALS shadowed by its original."""
    module = types.ModuleType("shadowed_sample")
    exec(compile(textwrap.dedent(NEW), "shadowed_sample.py", "exec"), module.__dict__)
    tallies = {}
    for qualname, source in ORIGINALS.items():
        tallies[qualname] = Tally({"id": qualname, "qualname": qualname, "source": source})
        install(module, tallies[qualname])
    return module, tallies


def counts(tally: Tally) -> tuple[int, int, int, dict[str, int]]:
    return tally.calls, tally.compared, tally.equal, tally.not_comparable


def test_values_alike() -> None:
    class Plain:
        def __init__(self, value: Any) -> None:
            self.value = value

    class Loud:
        def __eq__(self, other: object) -> bool:
            raise ValueError("ambiguous")

        def __repr__(self) -> str:
            return "Loud()"

    assert same(float("nan"), float("nan")) and not same(1.0, 2.0)
    assert same([Plain(1), {"k": Plain((2,))}], [Plain(1), {"k": Plain((2,))}])
    assert not same([Plain(1)], [Plain(2)])
    assert same(Loud(), Loud())  # == raises: their reprs decide
    assert not same(1, 1.0) and not same((1, 2), (1, 2, 3)) and not same({"a": 1}, {"b": 1})


def test_a_difference_is_reported_with_the_call_and_both_outcomes(
    shadowed: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    module, tallies = shadowed
    monkeypatch.setattr(plugin, "_CURRENT_TEST", [""])
    plugin.pytest_runtest_logstart("tests/test_x.py::test_clamp", None)

    assert module.clamp(3) == 3  # what the caller gets is the new version's answer
    assert module.clamp(10) == 10
    assert counts(tallies["clamp"]) == (2, 2, 1, {})
    assert tallies["clamp"].difference == {
        "args": "3",
        "new": "returned 3",
        "old": "returned 10",
        "mutated": "",
        "test": "tests/test_x.py::test_clamp",
    }


def test_exceptions_compare_by_type_and_the_callers_exception_is_the_new_ones(
    shadowed: Any,
) -> None:
    module, tallies = shadowed
    assert module.strict(2) == 2
    with pytest.raises(ValueError):
        module.strict(-1)
    assert tallies["strict"].difference is not None
    assert tallies["strict"].difference["old"] == "raised TypeError"
    assert tallies["strict"].difference["new"] == "raised ValueError"


def test_arguments_mutated_otherwise_are_a_difference_shown_as_before_the_call(
    shadowed: Any,
) -> None:
    module, tallies = shadowed
    items = [1]
    assert module.push(items, 5) == 2 and items == [1, 5]
    difference = tallies["push"].difference
    assert difference["args"] == "[1], 5" and difference["mutated"]


def test_what_the_original_prints_logs_or_warns_never_reaches_the_tests(
    shadowed: Any, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    module, tallies = shadowed
    with pytest.warns(UserWarning) as warned:
        assert module.chatty(4) == 4
    assert capsys.readouterr().out == "called 4\n"
    assert [r.getMessage() for r in caplog.records] == ["called 4"] and len(warned) == 1
    assert counts(tallies["chatty"]) == (1, 1, 1, {})


def test_recursion_is_shadowed_once_per_outermost_call_and_calls_stop_at_the_cap(
    shadowed: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    module, tallies = shadowed
    assert module.fact(6) == 720
    assert counts(tallies["fact"]) == (1, 1, 1, {})
    monkeypatch.setattr(plugin, "CALLS_COMPARED", 2)
    assert module.fact(3) == 6 and module.fact(4) == 24 and module.fact(5) == 120
    assert counts(tallies["fact"]) == (4, 2, 2, {"over-the-cap": 2})


def test_what_cannot_be_compared_is_counted_by_cause(shadowed: Any, tmp_path: Path) -> None:
    module, tallies = shadowed
    plugin.sys.addaudithook(plugin._audit)  # what start() does
    target = tmp_path / "log.txt"
    module.noisy()
    module.clock()
    module.touch(str(target))
    module.pure(str(tmp_path / "missing"))
    assert list(module.evens(5)) == [0, 2, 4]
    module.later().close()
    module.locked(threading.Lock())
    assert module.bump() == 1 and module.COUNT == 1  # the original's runs put back

    assert target.read_text() == "x"  # the original, doing I/O, is never run
    assert counts(tallies["noisy"])[3] == {"nondeterministic": 1}
    assert tallies["clock"].not_comparable == {"nondeterministic": 1}
    assert tallies["touch"].not_comparable == {"io": 1}
    assert tallies["pure"].not_comparable == {"io": 1}  # only the original opens: blocked
    assert tallies["evens"].not_comparable == {"generator": 1}
    assert tallies["later"].not_comparable == {"coroutine": 1}
    assert tallies["locked"].not_comparable == {"uncopyable": 1}
    assert tallies["bump"].not_comparable == {"global-state": 1}


def test_methods_of_every_kind_are_bound_as_they_were(shadowed: Any) -> None:
    module, tallies = shadowed
    point = module.Point(-2)
    assert point.scaled(3).x == -6  # a new instance with no __eq__: compared by its state
    assert module.Point.origin() == 0 and point.make(4).x == 4
    assert point.norm == 2 and point.secret() == 7
    assert module.Point3(5).scaled(2).x == 10  # zero-argument super() in the original
    assert module.Point.counted() == 1 and module.Point.made == 1  # the original's runs put back

    bound = {q: (t.wrapped, t.calls, t.compared, t.equal) for q, t in tallies.items() if "." in q}
    assert bound == {
        "Point.scaled": ("method", 1, 1, 1),  # not again inside Point3's shadowed call
        "Point.origin": ("staticmethod", 1, 1, 0),
        "Point.make": ("classmethod", 1, 1, 1),
        "Point.norm": ("property", 1, 1, 0),
        "Point.secret": ("method", 1, 1, 1),
        "Point3.scaled": ("method", 1, 1, 1),
        "Point.counted": ("classmethod", 1, 0, 0),
    }
    assert tallies["Point.counted"].not_comparable == {"global-state": 1}


def test_an_original_that_does_not_bind_is_a_note_and_the_new_one_stays() -> None:
    module = types.ModuleType("unbound_sample")
    exec("def f(x):\n    return x\n\nclass C:\n    n = len\n", module.__dict__)
    missing = Tally({"id": "f", "qualname": "f", "source": "def f(x) return\n"})
    builtin = Tally({"id": "n", "qualname": "C.n", "source": "n = len\n"})
    install(module, missing)
    install(module, builtin)
    assert missing.note.startswith("not shadowed: SyntaxError") and module.f(3) == 3
    assert builtin.note == "a builtin_function_or_method is not shadowed"
    assert module.C.n is len


def test_a_module_imported_after_start_is_shadowed_for_every_importer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "shadow_target.py").write_text("def f(x):\n    return x + 1\n")
    spec = {
        "functions": [
            {"id": "f@1", "module": "shadow_target", "qualname": "f", "source": ORIGINAL_F}
        ]
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    monkeypatch.setattr(plugin, "TALLIES", [])
    monkeypatch.setattr(plugin, "_CURRENT_TEST", [""])
    plugin.start(str(tmp_path / "spec.json"))
    try:
        from shadow_target import f  # type: ignore[import-not-found]

        assert f(1) == 2 and f(2) == 3
    finally:
        sys.modules.pop("shadow_target", None)
    (tmp_path / "results").mkdir()
    plugin.write(str(tmp_path / "results"))
    (tmp_path / "results" / "shadow-1.json").write_text(
        (tmp_path / "results" / f"shadow-{plugin.os.getpid()}.json").read_text()
    )
    (tmp_path / "results" / "shadow-2.json").write_text("{")  # a process killed mid-write
    [outcome] = read_outcomes(tmp_path / "results", ["f@1"]).values()
    assert (outcome.calls, outcome.compared, outcome.equal) == (4, 4, 2)  # two processes
    assert (
        outcome.detail() == "f(2) returned 3 but the original returned 4 (called by the test run)"
    )


ORIGINAL_F = "def f(x):\n    return x + 1 if x < 2 else x + 2\n"


@pytest.mark.parametrize(
    ("command", "pytest_run"),
    [
        ("python -m pytest -q tests", True),
        ("/venv/bin/pytest -x", True),
        ("cd sub && py.test", True),
        ("tox -e py312", False),
        ("python -m unittest", False),
        ("make 'unbalanced", False),
    ],
)
def test_only_pytest_commands_are_shadowed(command: str, pytest_run: bool) -> None:
    assert runs_pytest(command) is pytest_run


def test_the_plugin_is_loaded_beside_what_the_run_already_adds(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    target = ShadowTarget("pkg/m.py::f@1", "pkg/m.py", "f", "def f():\n    return 1\n")
    unimportable = ShadowTarget("x", "scripts/run-me.py", "f", "def f():\n    return 1\n")
    with shadow_run(tmp_path, "make test", [target]) as not_pytest:
        assert not_pytest is None
    with shadow_run(tmp_path, "pytest", [unimportable]) as nothing:
        assert nothing is None
    with shadow_run(tmp_path, "python -m pytest", [target, unimportable]) as shadowing:
        assert shadowing is not None
        env = shadowing.environment({"PYTHONPATH": "/cov", "PYTEST_ADDOPTS": "-p cov", "X": "1"})
        spec = json.loads((shadowing.root / "spec.json").read_text())
        root = shadowing.root
    assert env == {
        "PYTHONPATH": f"{root}{os.pathsep}/cov",
        "PYTEST_ADDOPTS": "-p cov -p codemill_shadow",
        "X": "1",
    }
    assert spec == {
        "functions": [
            {
                "id": "pkg/m.py::f@1",
                "path": "pkg/m.py",
                "module": "pkg.m",
                "qualname": "f",
                "source": "def f():\n    return 1\n",
            }
        ]
    }
    assert not root.exists()


def test_what_is_sent_to_be_shadowed() -> None:
    source = (
        "import functools\n\n\ndef plain(x):\n    return x\n\n\n@functools.cache\ndef cached(x):\n"
        "    return x\n\n\nclass C:\n    @staticmethod\n    def s():\n        return 1\n\n"
        "    @property\n    def p(self):\n        return 2\n"
    )
    proposals = [
        Proposal(chunk, Verdict.accepted(), new_text=chunk.text)
        for path in ("pkg/m.py", "tests/test_m.py", "conftest.py")
        for chunk in chunk_module(path, source, budget=10)
    ]
    sent = [(t.path, t.qualname) for t in targets_of(proposals, lambda p: p.chunk.name)]
    assert sent == [("pkg/m.py", "plain"), ("pkg/m.py", "C.s"), ("pkg/m.py", "C.p")]
