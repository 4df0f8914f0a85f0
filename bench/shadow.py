"""Shadow runs (issue 20): how many behaviour-changing rewrites they reject, how many correct ones they
wrongly reject, and what they cost the test gate.

1. The corpus (bench/shadow_corpus/cases.py): real standard-library functions, each copied into a module of a
   generated repository (in the original module's globals), under a pytest suite that calls them and checks
   nothing. Every behaviour-changing rewrite goes through `run_test_gate` at once (one gate, the plugin loaded
   into its first run); then every correct rewrite. Reported: the share rejected `behaviour-changed` (target
   90%), the correct rewrites rejected (target 0), and each case's verdict.
2. The cost: the same gate with and without shadow runs, on the corpus's suite and on a real project's suite
   (codemill's own tests/source and tests/judge, 3 hot functions of pipeline/source rewritten correctly),
   best of --repeat.

    python bench/shadow.py [--repeat 3] [--skip-real]
"""

from __future__ import annotations

import argparse
import ast
import importlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "shadow_corpus"))

from cases import BEHAVIOUR_CHANGING, CORRECT, Case  # noqa: E402

from pipeline.gates.scratch import ChunkEdit  # noqa: E402
from pipeline.gates.shadow.spec import ShadowTarget  # noqa: E402
from pipeline.gates.suite import TestGateResult, run_test_gate  # noqa: E402
from pipeline.judge.verdicts import Reason  # noqa: E402
from pipeline.repository import open_repository  # noqa: E402

TEST_CMD = (
    f"PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 {sys.executable} -m pytest -q -p no:cacheprovider tests"
)
PRELUDE = (
    "import {module} as _source\n\n"
    "globals().update({{k: v for k, v in vars(_source).items() if not k.startswith('__')}})\n\n\n"
)
Gate = tuple[dict[str, tuple[bytes, bytes]], dict[str, list[ChunkEdit]], list[ShadowTarget]]


def source_of(module: str, function: str) -> str:
    """The function's own source in the standard library of this Python (read from its file)."""
    path = importlib.import_module(module).__file__
    assert path is not None
    text = Path(path).read_text(encoding="utf-8")
    for node in ast.parse(text).body:
        if isinstance(node, ast.FunctionDef) and node.name == function:
            segment = ast.get_source_segment(text, node)
            assert segment is not None
            return segment + "\n"
    raise LookupError(f"{module}.{function} is not in {path}")


def rewritten(case: Case) -> tuple[str, str]:
    """The original source and the rewrite (refused if the replacement does not apply)."""
    original = source_of(case.module, case.function)
    if case.old not in original:
        raise LookupError(f"{case.name}: {case.old!r} is not in this Python's source")
    return original, original.replace(case.old, case.new, 1)


def test_file(cases: Sequence[Case]) -> str:
    """One test per case: each call made, nothing checked, any exception swallowed."""
    lines = ["import importlib\n"]
    for index, case in enumerate(cases):
        calls = "".join(
            f"    try:\n        module.{case.function}({args})\n    except Exception:\n        pass\n"
            for args in case.calls
        )
        lines.append(
            f"\ndef test_{index:02d}_{case.name}():\n"
            f"    module = importlib.import_module('corpus.c{index:02d}')\n{calls}"
        )
    return "".join(lines)


def commit(root: Path) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b"}
    env |= {"GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"}
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    subprocess.run(["git", "add", "."], cwd=root, check=True)
    subprocess.run(["git", "commit", "-qm", "base"], cwd=root, check=True, env=env)


def corpus_repo(root: Path, cases: Sequence[Case]) -> Gate:
    """The repository of the cases' originals, committed; the rewrites as the gate takes them."""
    (root / "corpus").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "corpus" / "__init__.py").write_text("")
    (root / "tests" / "test_corpus.py").write_text(test_file(cases))
    changes: dict[str, tuple[bytes, bytes]] = {}
    edits: dict[str, list[ChunkEdit]] = {}
    targets: list[ShadowTarget] = []
    for index, case in enumerate(cases):
        path = f"corpus/c{index:02d}.py"
        original, new = rewritten(case)
        prelude = PRELUDE.format(module=case.module).encode()
        before, after = prelude + original.encode(), prelude + new.encode()
        (root / path).write_bytes(before)
        changes[path] = (before, after)
        edits[path] = [ChunkEdit(path, len(prelude), len(before), new.encode())]
        targets.append(ShadowTarget(path, path, case.function, original))
    commit(root)
    return changes, edits, targets


def gate(root: Path, planned: Gate, shadow: bool, command: str = TEST_CMD) -> TestGateResult:
    changes, edits, targets = planned
    return run_test_gate(
        open_repository(root),
        "HEAD",
        changes,
        edits,
        test_cmd=command,
        timeout=600,
        shadow=targets if shadow else (),
    )


def verdicts(result: TestGateResult, cases: Sequence[Case]) -> list[tuple[Case, str, str]]:
    """Each case's fate: rejected with its reason, or kept with its shadow counts."""
    out = []
    for index, case in enumerate(cases):
        decision = result.decisions[f"corpus/c{index:02d}.py"]
        found = result.shadow.get(decision.unit_id)
        counts = found.summary() if found else "not shadowed"
        fate = str(decision.reason) if not decision.kept else "kept"
        out.append((case, fate, decision.detail if not decision.kept else counts))
    return out


def best(root: Path, planned: Gate, shadow: bool, repeat: int, command: str = TEST_CMD) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        gate(root, planned, shadow, command)
        times.append(time.perf_counter() - started)
    return min(times)


def corpus_report(work: Path, repeat: int) -> None:
    bad_root, good_root = work / "bad", work / "good"
    bad, good = corpus_repo(bad_root, BEHAVIOUR_CHANGING), corpus_repo(good_root, CORRECT)
    caught = verdicts(gate(bad_root, bad, True), BEHAVIOUR_CHANGING)
    kept = verdicts(gate(good_root, good, True), CORRECT)
    rejected = sum(fate == Reason.BEHAVIOUR_CHANGED for _, fate, _ in caught)
    wrong = sum(fate != "kept" for _, fate, _ in kept)
    print(f"behaviour-changing rewrites rejected: {rejected}/{len(caught)}")
    print(f"correct rewrites wrongly rejected: {wrong}/{len(kept)}\n")
    print("| case | change | verdict | detail |\n| --- | --- | --- | --- |")
    for case, fate, detail in caught + kept:
        print(
            f"| {case.module}.{case.function} | {case.kind} | {fate} | {detail.replace('|', '/')} |"
        )
    plain, shadowed = best(good_root, good, False, repeat), best(good_root, good, True, repeat)
    print(
        f"\ncorpus gate (13 correct rewrites, all kept): {plain:.2f} s without shadow runs, "
        f"{shadowed:.2f} s with ({shadowed / plain:.2f}x), best of {repeat}"
    )


def real_report(work: Path, repeat: int) -> None:
    """codemill's tests/source (not slow) with four pipeline/source functions rewritten correctly."""
    from pipeline.source.chunking import chunk_module

    clone = work / "codemill"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    changes: dict[str, tuple[bytes, bytes]] = {}
    edits: dict[str, list[ChunkEdit]] = {}
    targets: list[ShadowTarget] = []
    for path in ("pipeline/source/layout.py", "pipeline/source/spans.py"):
        data = (clone / path).read_bytes()
        chunks = [c for c in chunk_module(path, data.decode()) if c.kind == "function"][:2]
        new = data
        for chunk in reversed(chunks):  # a trailing comment: a correct rewrite the tests cannot see
            text = chunk.text.rstrip("\n") + "  # rewritten\n"
            edit = ChunkEdit(chunk.name, chunk.start_byte, chunk.end_byte, text.encode())
            edits.setdefault(path, []).insert(0, edit)
            new = new[: chunk.start_byte] + text.encode() + new[chunk.end_byte :]
            targets.append(ShadowTarget(chunk.name, path, chunk.name, chunk.text))
        changes[path] = (data, new)
    command = (
        f"PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 {sys.executable} -m pytest -q -p no:cacheprovider "
        "-p xdist -n 0 -m 'not slow' tests/source"
    )
    planned = (changes, edits, targets)
    result = gate(clone, planned, True, command)
    for target in targets:
        print(f"{target.path}::{target.qualname}: {result.shadow[target.chunk_id].summary()}")
    plain = best(clone, planned, False, repeat, command)
    shadowed = best(clone, planned, True, repeat, command)
    print(
        f"codemill tests/source (not slow), {len(targets)} functions shadowed: {plain:.2f} s "
        f"without, {shadowed:.2f} s with ({shadowed / plain:.2f}x), best of {repeat}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-real", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="codemill-shadow-bench-") as work:
        corpus_report(Path(work), args.repeat)
        if not args.skip_real:
            real_report(Path(work), args.repeat)


if __name__ == "__main__":
    main()
