"""False rejections and cost of the answer checks, over the running interpreter's standard library.

Usage: python bench/answers.py [--step K] [--limit N]
For every chunk the docstrings recipe selects (every K-th stdlib file), a correct docstring-only answer
is made (a one-line docstring inserted as the first statement of each public function and class that
lacks one, indented like its body) and judged as the model engine would, with the module's names and
the recipe's scope. Prints the acceptance rate and every rejection with its reason, then the time of
validation with the new checks (undefined names, scope, layout) against the same validation without
them (no module names, `scope: any`), best of 3.
"""

from __future__ import annotations

import argparse
import sysconfig
import time
from pathlib import Path

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from pipeline.judge.names import module_names
from pipeline.judge.policy import Allowances, Policy
from pipeline.judge.validation import judge_answer
from pipeline.judge.verdicts import Status
from pipeline.recipes.loading import load_recipe
from pipeline.source.chunking import Chunk, plan_file
from pipeline.source.files import SourceFile, _decode


def documented(chunk: Chunk) -> str | None:
    """The chunk with a docstring added to every public def/class without one, or None if none."""
    module = cst.parse_module(chunk.text)
    positions = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    lines = chunk.text.split("\n")
    inserts: list[tuple[int, str]] = []
    for node, where in positions.items():
        if not isinstance(node, cst.FunctionDef | cst.ClassDef) or node.name.value.startswith("_"):
            continue
        if node.get_docstring() is not None or not isinstance(node.body, cst.IndentedBlock):
            continue
        first = node.body.body[0]
        row = positions[first].start.line - 1  # 0-based line of the first body statement
        indent = lines[row][: len(lines[row]) - len(lines[row].lstrip())]
        inserts.append((row, f'{indent}"""Do what {node.name.value} is for."""'))
        del where
    if not inserts:
        return None
    for row, line in sorted(inserts, reverse=True):
        lines.insert(row, line)
    return "\n".join(lines)


def corpus(step: int) -> list[SourceFile]:
    root = Path(sysconfig.get_paths()["stdlib"])
    paths = sorted(p for p in root.rglob("*.py") if "site-packages" not in p.parts)[::step]
    return [s for p in paths if isinstance(s := _decode(str(p), p.read_bytes()), SourceFile)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--step", type=int, default=40)
    parser.add_argument("--limit", type=int, default=400)
    args = parser.parse_args()
    recipe = load_recipe("docstrings")
    checked = Policy(recipe.allowances)
    plain = Policy(Allowances(**{**recipe.allowances.__dict__, "scope": "any"}))
    cases: list[tuple[Chunk, str, str]] = []
    for source in corpus(args.step):
        planned = plan_file(source)
        if isinstance(planned, list):
            for chunk in planned:
                answer = documented(chunk) if recipe.selects(chunk) else None
                if answer is not None and len(cases) < args.limit:
                    cases.append((chunk, answer, source.text))
    rejected = []
    for chunk, answer, text in cases:
        verdict = judge_answer(chunk, answer, policy=checked, names=module_names(text)).verdict
        if verdict.status is not Status.ACCEPTED:
            rejected.append((chunk, verdict))
    accepted = len(cases) - len(rejected)
    print(
        f"docstring-only answers: {len(cases)}, accepted {accepted} ({accepted / max(len(cases), 1):.1%})"
    )
    for chunk, verdict in rejected:
        print(
            f"  rejected {chunk.path}:{chunk.start_line} {chunk.name}: {verdict.reason} {verdict.detail}"
        )
    with_checks = min(_time(cases, checked, True) for _ in range(3))
    without = min(_time(cases, plain, False) for _ in range(3))
    ratio = with_checks / without
    print(
        f"validation: {with_checks:.3f}s with the new checks, {without:.3f}s without: {ratio:.3f}"
    )


def _time(cases: list[tuple[Chunk, str, str]], policy: Policy, with_names: bool) -> float:
    module_names.cache_clear()
    started = time.perf_counter()
    for chunk, answer, text in cases:
        names = module_names(text) if with_names else None
        judge_answer(chunk, answer, policy=policy, names=names)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
