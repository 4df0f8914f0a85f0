"""The chunk's interface kept: every definition still there, signatures and decorators as they were,
no new names or imports unless the recipe allows them.

Decorators: removing one from a definition is a SIGNATURE_CHANGED (it changes what callers get);
adding one is allowed. Changing `def` into `async def` (or back) is a signature change too.
"""

from __future__ import annotations

from collections import Counter

from pipeline.judge.facts import Facts, Function, is_public, norm
from pipeline.judge.lazy import At
from pipeline.judge.policy import Policy
from pipeline.judge.verdicts import Reason, Verdict

_KIND_NAMES = {
    "posonly": "positional-only",
    "normal": "positional-or-keyword",
    "star": "*args",
    "kwonly": "keyword-only",
    "starstar": "**kwargs",
}


def _shown(code: str | None) -> str:
    return "no default" if code is None else f"`{code}`"


def removed(old: Facts, new: Facts, policy: Policy, at: At) -> Verdict | None:
    if policy.allowances.definitions_removed:
        return None
    for qualname, line in old.bound.items():
        if qualname not in new.bound:
            kind = "class" if qualname in old.classes else "name"
            kind = "function" if qualname in old.functions else kind
            visibility = "Public" if is_public(qualname) else "Private"
            detail = f"{visibility} {kind} `{qualname}` (line {at(line)}) was removed."
            return Verdict.rejected(Reason.DEFINITION_REMOVED, detail)
    return None


def signatures(old: Facts, new: Facts, policy: Policy, at: At) -> Verdict | None:
    for qualname, befores in old.functions.items():
        afters = new.functions.get(qualname)
        if afters is None:
            continue
        if len(befores) != len(afters):
            detail = (
                f"`{qualname}` was defined {len(befores)} time(s) (overloads or accessors) "
                f"and is now defined {len(afters)} time(s)."
            )
            return Verdict.rejected(Reason.SIGNATURE_CHANGED, detail)
        for before, after in zip(befores, afters, strict=True):
            change = _signature_change(qualname, before, after, policy)
            if change is not None:
                detail = f"Line {at(after.line)}: {change}."
                return Verdict.rejected(Reason.SIGNATURE_CHANGED, detail)
    return None


def _signature_change(qualname: str, old: Function, new: Function, policy: Policy) -> str | None:
    """The first interface change of one function the policy forbids, as a clause, or None."""
    missing = Counter(old.decorators) - Counter(new.decorators)
    if missing:
        return f"a decorator of `{qualname}` was removed"
    allow = policy.allowances
    if not allow.signatures:
        if old.is_async != new.is_async:
            return f"`{qualname}` changed between def and async def"
        old_names = [p.name for p in old.params]
        new_names = [p.name for p in new.params]
        for name in old_names:
            if name not in new_names:
                return f"parameter `{name}` of `{qualname}` was removed or renamed"
        for name in new_names:
            if name not in old_names:
                return f"parameter `{name}` was added to `{qualname}`"
        for before, after in zip(old.params, new.params, strict=True):
            if before.name != after.name:
                return f"the parameters of `{qualname}` were reordered at `{before.name}`"
            if before.kind != after.kind:
                kinds = f"{_KIND_NAMES[before.kind]} to {_KIND_NAMES[after.kind]}"
                return f"parameter `{before.name}` of `{qualname}` changed from {kinds}"
            if norm(before.default) != norm(after.default):
                change = f"from {_shown(before.default)} to {_shown(after.default)}"
                return f"the default of parameter `{before.name}` of `{qualname}` changed {change}"
    if not allow.annotations:
        news = {p.name: p for p in new.params}
        for before in old.params:
            counterpart = news.get(before.name)
            if counterpart is not None and norm(before.annotation) != norm(counterpart.annotation):
                return f"the annotation of parameter `{before.name}` of `{qualname}` changed"
        if norm(old.returns) != norm(new.returns):
            return f"the return annotation of `{qualname}` changed"
    return None


def new_names(old: Facts, new: Facts, policy: Policy, at: At) -> Verdict | None:
    if not policy.allowances.new_definitions:
        for qualname, line in new.bound.items():
            if qualname not in old.bound:
                detail = f"Line {at(line)} adds the new name `{qualname}`."
                return Verdict.rejected(Reason.NEW_NAME, detail)
    if not policy.allowances.imports:
        for name, line in new.imported.items():
            if name not in old.imported:
                detail = f"Line {at(line)} adds the import `{name}`."
                return Verdict.rejected(Reason.NEW_NAME, detail)
    return None
