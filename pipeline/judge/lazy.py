"""Lazy answers: code elided with a comment, a body replaced by a stub, a new `...`."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from pipeline.judge.policy import Policy
from pipeline.judge.verdicts import Reason, Verdict

if TYPE_CHECKING:
    from pipeline.judge.facts import Facts

At = Callable[[int], int]  # chunk line -> file line

LAZY_COMMENT = re.compile(
    r"rest of (?:the )?(?:code|file|module|class|function|method|implementation|body|logic)"
    r"|\.\.\.\s*(?:existing|rest|remaining|same|unchanged|omitted|other)"
    r"|(?:existing|remaining|other|previous) (?:code|methods|functions|implementation|logic)"
    r"|same as (?:before|above|original|previously|the original)"
    r"|todo:?\s*implement"
    r"|(?:code|implementation|body|logic) (?:omitted|elided|goes here)"
    r"|keep (?:as is|existing|the rest)"
    r"|^\W*\(?\s*unchanged\s*\)?\W*$"
    r"|\b(?:code|body|implementation|logic|methods?|functions?|rest|everything else)"
    r"\s+(?:remains?|is|are|stays?|left)?\s*unchanged\b",
    re.IGNORECASE,
)


def lazy(old: Facts, new: Facts, policy: Policy, at: At) -> Verdict | None:
    for line, comment in new.lazy_comments:
        if comment.lstrip("#").strip() not in old.comments:
            detail = f"Line {at(line)} elides code with the comment `{comment.strip()}`."
            return Verdict.rejected(Reason.LAZY, detail)
    for qualname, befores in old.functions.items():
        for before, after in zip(befores, new.functions.get(qualname, []), strict=False):
            if before.real_body and not after.real_body:
                detail = f"Line {at(after.line)}: the body of `{qualname}` was replaced by a stub."
                return Verdict.rejected(Reason.LAZY, detail)
    for qualname, (_, real) in old.classes.items():
        after_class = new.classes.get(qualname)
        if real and after_class is not None and not after_class[1]:
            detail = (
                f"Line {at(after_class[0])}: the body of class `{qualname}` was replaced by a stub."
            )
            return Verdict.rejected(Reason.LAZY, detail)
    for owner, lines in new.ellipses.items():
        if len(lines) > len(old.ellipses.get(owner, [])):
            detail = f"Line {at(lines[0])} elides code with `...`."
            return Verdict.rejected(Reason.LAZY, detail)
    return None
