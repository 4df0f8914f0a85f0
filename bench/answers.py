"""False rejections and cost of the answer checks, over the running interpreter's standard library.

Usage: python bench/answers.py [--step K] [--limit N]
For every chunk the docstrings recipe selects (every K-th stdlib file), a correct docstring-only answer
is made (a one-line docstring inserted as the first statement of each public function and class that
lacks one, indented like its body) and judged as the model engine would, with the module's names and
the recipe's scope. Prints the acceptance rate and every rejection with its reason, then the time of
validation with the new checks (undefined names, scope) against the same validation of the same
answers without them (no module names, `scope: any`): CPU time, both sides cold (no judge cache kept
from an earlier judgement), interleaved case by case, best of 3 passes.
"""

from __future__ import annotations

import argparse
import sysconfig
import time
from pathlib import Path

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from pipeline.judge import facts, names, scope
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
        anchor: cst.CSTNode = first
        if isinstance(first, cst.FunctionDef | cst.ClassDef) and first.decorators:
            anchor = first.decorators[0]  # a def's position starts after its decorators
        row = positions[anchor].start.line - 1  # 0-based line of the first body statement
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
    passes = [_paired(cases, checked, plain) for _ in range(3)]
    with_checks, without = min(p[0] for p in passes), min(p[1] for p in passes)
    print(
        f"validation CPU: {with_checks:.3f}s with the new checks, {without:.3f}s without: "
        f"{with_checks / without:.3f} (passes: "
        + ", ".join(f"{w / o:.3f}" for w, o in passes)
        + ")"
    )


def _cold() -> None:
    """Forget every per-text judge cache (the bounded ones): a run judges each answer once."""
    for module in (facts, names, scope):
        for value in vars(module).values():
            info = getattr(value, "cache_info", None)
            if info is not None and info().maxsize is not None and value is not module_names:
                value.cache_clear()


def _paired(
    cases: list[tuple[Chunk, str, str]], checked: Policy, plain: Policy
) -> tuple[float, float]:
    """CPU seconds of judging every case with the checks and without, interleaved case by case (in
    alternating order) so the shared machine's load falls on both sides alike; both start cold."""
    module_names.cache_clear()  # then once per file, as a run computes it
    totals = [0.0, 0.0]
    for number, (chunk, answer, text) in enumerate(cases):
        sides = [(0, checked, True), (1, plain, False)]
        for side, policy, with_names in sides if number % 2 else sides[::-1]:
            _cold()
            started = time.process_time()
            bound = module_names(text) if with_names else None
            judge_answer(chunk, answer, policy=policy, names=bound)
            totals[side] += time.process_time() - started
    return totals[0], totals[1]


if __name__ == "__main__":
    main()
