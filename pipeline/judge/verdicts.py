"""The outcome of checking one proposed chunk: accepted, unchanged, or rejected with a reason code."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    ACCEPTED = "accepted"
    UNCHANGED = "unchanged"
    REJECTED = "rejected"
    SKIPPED = "skipped"  # never sent: filtered by a selector, a budget stop, a fatal provider error
    FAILED = "failed"  # the engine could not produce an answer (provider error after retries)


class Reason(StrEnum):
    """Every reason code a chunk or a file can end with; reports group by these."""

    # reply extraction
    NO_CODE = "no-code"
    SEVERAL_BLOCKS = "several-blocks"
    EMPTY = "empty"
    THINK_ONLY = "think-only"
    CUT_OFF = "cut-off"
    DEGENERATE = "degenerate"  # the answer's tail repeats itself (judge.looping)
    # validation
    SYNTAX = "syntax"
    COMPILE = "compile"
    DEFINITION_REMOVED = "definition-removed"
    SIGNATURE_CHANGED = "signature-changed"
    NEW_NAME = "new-name"
    LAZY = "lazy"
    TARGET_SYNTAX = "target-syntax"
    RUNTIME_ANNOTATION = "runtime-annotation"
    UNDEFINED_NAME = "undefined-name"
    INDENTATION_CHANGED = "indentation-changed"
    OUT_OF_SCOPE = "out-of-scope"
    # safety gates
    BEHAVIOUR_CHANGED = "behaviour-changed"  # a shadow run saw the original and the new differ
    BREAKS_IMPORT = "breaks-import"
    BREAKS_TESTS = "breaks-tests"
    UNPROVEN = "unproven"  # its evidence is below --require-evidence (pipeline.gates.evidence)
    # run-level
    NOT_SELECTED = "not-selected"
    BUDGET = "budget"
    PROVIDER_ERROR = "provider-error"
    TOO_LONG = "too-long"  # the chunk's request does not fit the model's context window
    TOO_LARGE = "too-large"  # the answer is longer than its max_tokens allows (model.limits)
    FATAL_STOP = "fatal-stop"
    CODEMOD_ERROR = "codemod-error"

    @classmethod
    def _missing_(cls, value: object) -> Reason | None:
        """Ledgers written before `truncated` and `cut-off` became one reason still read."""
        return cls.CUT_OFF if value == "truncated" else None


@dataclass(frozen=True)
class Verdict:
    """A decision with one human sentence naming the line or the definition when rejected."""

    status: Status
    reason: Reason | None = None
    detail: str = ""

    @classmethod
    def accepted(cls) -> Verdict:
        return cls(Status.ACCEPTED)

    @classmethod
    def unchanged(cls) -> Verdict:
        return cls(Status.UNCHANGED)

    @classmethod
    def rejected(cls, reason: Reason, detail: str) -> Verdict:
        return cls(Status.REJECTED, reason, detail)
