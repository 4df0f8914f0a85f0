"""The verdict on a proposed chunk, in order: not truncated, in the chunk's layout (else unchanged or
`indentation-changed`), parses, fits the target Python, compiles in its real context, keeps every
definition and signature, adds no names, is not lazy, reads no undefined name, stays in the recipe's
scope, evaluates no broken `X | Y`. Each check lives in its own module; this one orders them.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

import libcst as cst
from libcst.metadata import MetadataWrapper

from pipeline.judge.compiling import compile_error
from pipeline.judge.facts import Collector, Facts, original_facts
from pipeline.judge.interface import new_names, removed, signatures
from pipeline.judge.lazy import At, lazy
from pipeline.judge.names import ModuleNames, undefined_name
from pipeline.judge.policy import Policy
from pipeline.judge.relayout import chunk_unit, relay, same_but_whitespace
from pipeline.judge.scope import judge_scope
from pipeline.judge.target_syntax import (
    FeatureFinder,
    UnionFinder,
    first_unsupported,
    newest_needed,
)
from pipeline.judge.verdicts import Reason, Status, Verdict
from pipeline.source.chunking import Chunk
from pipeline.source.codegen import StartLineProvider
from pipeline.source.guard import UnsafeParse, guarded_parse
from pipeline.source.layout import lf

_PARSER_PREFIX = re.compile(r"^parser error: error at \d+:\d+: ")  # chunk-relative, dropped


@dataclass(frozen=True)
class Judgement:
    """The verdict and the answer's text in the chunk's own layout (what is spliced when accepted)."""

    text: str
    verdict: Verdict


def validate(
    chunk: Chunk,
    proposed: str,
    *,
    policy: Policy,
    finish_reason: str | None = "stop",
    module_has_future_annotations: bool = False,
    names: ModuleNames | None = None,
) -> Verdict:
    """Accept, call unchanged, or reject (with a reason and one sentence) a proposed chunk text."""
    return judge_answer(
        chunk,
        proposed,
        policy=policy,
        finish_reason=finish_reason,
        module_has_future_annotations=module_has_future_annotations,
        names=names,
    ).verdict


def judge_answer(
    chunk: Chunk,
    proposed: str,
    *,
    policy: Policy,
    finish_reason: str | None = "stop",
    module_has_future_annotations: bool = False,
    names: ModuleNames | None = None,
) -> Judgement:
    """`validate`, also giving the answer as it would be spliced (re-indented, coding line kept)."""
    if finish_reason == "length":
        return Judgement(
            proposed, Verdict.rejected(Reason.CUT_OFF, "The answer was cut off by max_tokens.")
        )
    original = lf(chunk.text)
    text = lf(proposed)
    if same_but_whitespace(original, text):
        return Judgement(chunk.text, Verdict.unchanged())
    if not text.strip():
        return Judgement(
            text, Verdict.rejected(Reason.EMPTY, f"The proposal for `{chunk.name}` is empty.")
        )
    relaid = relay(original, text, chunk_unit(original, chunk.indent))
    if relaid.bad_line is not None:
        line = chunk.start_line - 1 + relaid.bad_line
        detail = f"Line {line} of the answer {relaid.why}, unlike the file."
        return Judgement(text, Verdict.rejected(Reason.INDENTATION_CHANGED, detail))
    if same_but_whitespace(original, relaid.text):
        return Judgement(chunk.text, Verdict.unchanged())
    try:
        verdict = _verdict(
            chunk, original, relaid.text, policy, module_has_future_annotations, names
        )
    except RecursionError:
        verdict = Verdict.rejected(Reason.SYNTAX, "The answer is nested too deeply to check.")
    return Judgement(relaid.text, verdict)


def _parse(proposed: str, at: At) -> cst.Module | Verdict:
    """The proposal's module, or the syntax rejection that names the line in the file."""
    try:
        return guarded_parse(proposed)
    except cst.ParserSyntaxError as e:
        msg = _PARSER_PREFIX.sub("", e.message).rstrip(".")
        return Verdict.rejected(Reason.SYNTAX, f"Syntax error at line {at(e.raw_line)}: {msg}.")
    except UnsafeParse as e:
        return Verdict.rejected(Reason.SYNTAX, f"The answer cannot be parsed safely: {e}.")


def _verdict(
    chunk: Chunk,
    original: str,
    proposed: str,
    policy: Policy,
    future: bool,
    names: ModuleNames | None,
) -> Verdict:
    def at(line: int) -> int:
        return chunk.start_line - 1 + line

    module = _parse(proposed, at)
    if isinstance(module, Verdict):
        return module
    lines = MetadataWrapper(module, unsafe_skip_copy=True).resolve(StartLineProvider)
    target = policy.target_python
    # One traversal for every fact of the proposal.
    finder, collector = FeatureFinder(module, lines), Collector(module, lines)
    unions = UnionFinder(lines, target, future, chunk.enclosing)
    cst.visit_batched(module, [finder, collector, unions])
    features, facts = finder.features(), collector.facts
    too_new = first_unsupported(features, target)
    if too_new is not None:
        detail = (
            f"Line {at(too_new.line)} uses {too_new.what}, which needs Python "
            f"{_fmt(too_new.needs)} but the target is {_fmt(target)}."
        )
        return Verdict.rejected(Reason.TARGET_SYNTAX, detail)
    # compile() knows only the running interpreter's grammar: newer syntax is checked above only.
    if newest_needed(features) <= sys.version_info[:2]:
        error = compile_error(proposed, chunk.enclosing, facts.nonlocals, future)
        if error is not None:
            line, msg = error
            return Verdict.rejected(Reason.COMPILE, f"Line {at(line)} does not compile: {msg}.")
    before = original_facts(original)
    for check in (removed, signatures, new_names, lazy):
        verdict = check(before, facts, policy, at)
        if verdict is not None:
            return verdict
    verdict = _names_and_scope(chunk, original, proposed, facts, policy, names, at)
    if verdict is not None:
        return verdict
    union = unions.first()
    if union is not None:
        return Verdict.rejected(Reason.RUNTIME_ANNOTATION, f"Line {at(union.line)}: {union.why}.")
    if names is not None and names.unknown:
        return Verdict(Status.ACCEPTED, None, f"Names not checked: {names.unknown}.")
    return Verdict.accepted()


def _names_and_scope(
    chunk: Chunk,
    original: str,
    proposed: str,
    facts: Facts,
    policy: Policy,
    names: ModuleNames | None,
    at: At,
) -> Verdict | None:
    """`undefined-name`, then `out-of-scope`: the checks that need the module or the recipe.
    An answer proven to differ only in docstrings reads what the original read: no name analysis."""
    scope = policy.allowances.scope
    scoped = judge_scope(scope, original, proposed)
    if names is not None and not names.unknown and not scoped.same_code:
        missing = undefined_name(
            original,
            proposed,
            chunk_name=chunk.name,
            enclosing=chunk.enclosing,
            nonlocals=frozenset(facts.nonlocals),
            names=names,
        )
        if missing is not None:
            line, name = missing
            detail = (
                f"Line {at(line)} reads `{name}`, which nothing binds: not the chunk, the module, "
                f"its imports{', the class' if chunk.enclosing else ''} or the builtins."
            )
            return Verdict.rejected(Reason.UNDEFINED_NAME, detail)
    if scoped.outside is not None:
        line, what = scoped.outside
        detail = f"Line {at(line)} {what}, outside the recipe's scope ({scope})."
        return Verdict.rejected(Reason.OUT_OF_SCOPE, detail)
    return None


def _fmt(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"
