"""Scope: an answer changes only what its recipe is for, decided on the syntax trees.

A recipe declares its scope (front matter `scope:`): `docstrings` (the trees without docstrings are
equal), `annotations` (equal without annotations, and at least one annotation added), `modernize`
(each difference is one of its rewrites: a %-format or `.format` call become an f-string, a typing
alias become a builtin generic, `Optional`/`Union` become `|`, `super(C, self)` become `super()`, an
`object` base dropped, `IOError` become `OSError`, `dict([...])`/`set([...])` become a comprehension or
literal), `assertions` (unittest asserts become `assert` or `pytest.raises`/`pytest.fail`), `code`
(the code may change, its docstrings may not) or `any`. The answer is `out-of-scope` otherwise,
with the first differing line.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass

SCOPES = frozenset({"any", "code", "docstrings", "annotations", "modernize", "assertions"})
_Allowed = Callable[[ast.AST, ast.AST], bool]
_View = Callable[[ast.AST], ast.AST]  # a node with the scope's part taken out
_TYPING = {"List": "list", "Dict": "dict", "Set": "set", "FrozenSet": "frozenset"}
_TYPING |= {"Tuple": "tuple", "Type": "type", "Deque": "collections.deque"}
_OWNERS = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
_STATEMENT_LISTS: dict[type[ast.AST], tuple[str, ...]] = {  # where a typing import may stand
    **{owner: ("body",) for owner in _OWNERS},
    ast.If: ("body", "orelse"),
    ast.Try: ("body", "orelse", "finalbody"),
}


def _whole(node: ast.AST) -> ast.AST:
    """The node as it is (a scope that takes nothing out)."""
    return node


def _tree(text: str) -> ast.Module | None:
    """The text's `ast`, parsed afresh: C-fast, and a cache of trees would keep thousands of nodes
    alive for the garbage collector to walk on every collection of the run."""
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


@dataclass(frozen=True)
class Scoped:
    """An answer against its recipe's scope."""

    outside: tuple[int, str] | None = None  # the first answer line outside it, and what is wrong
    same_code: bool = False  # proven that only docstrings differ: it reads what the original read


def judge_scope(scope: str, original: str, proposed: str) -> Scoped:
    """Where the answer leaves the recipe's scope, if it does (see the module's docstring)."""
    if scope == "any":
        return Scoped()
    old, new = _tree(original), _tree(proposed)
    if old is None or new is None:
        return Scoped()  # newer syntax than this interpreter's: the target-syntax check had its say
    if scope == "docstrings":
        outside = _first_difference(old, new, _never, _docstring)
        return Scoped(outside, same_code=outside is None)
    return Scoped(_outside(scope, old, new))


def _outside(scope: str, old: ast.Module, new: ast.Module) -> tuple[int, str] | None:
    if scope == "code":
        return _docstrings_kept(old, new)
    if scope == "annotations":
        found = _first_difference(old, new, _never, _annotation)
        if found is None and _annotations(new) <= _annotations(old):
            return 1, "adds no annotation"
        return found
    if scope == "modernize":  # typing imports the rewrites no longer need may go
        return _first_difference(old, new, _modernize, _typing_import)
    return _first_difference(old, new, _assertion)


def _first_difference(
    old: ast.AST, new: ast.AST, allowed: _Allowed, view: _View = _whole
) -> tuple[int, str] | None:
    """Walk both trees together, each node seen through `view` (the scope's part taken out, as a
    shallow copy: the trees are cached and never changed); the first pair of nodes that differ and
    is not an allowed rewrite."""
    old, new = view(old), view(new)
    if type(old) is not type(new):
        return None if allowed(old, new) else (_line(new, old), _what(new))
    if isinstance(old, ast.AST):
        if allowed(old, new) and ast.dump(old) != ast.dump(new):
            return None
        for name in old._fields:
            found = _compare(
                getattr(old, name, None), getattr(new, name, None), allowed, view, (new, old)
            )
            if found is not None:
                return found
    return None


def _compare(
    a: object, b: object, allowed: _Allowed, view: _View, parents: tuple[ast.AST, ast.AST]
) -> tuple[int, str] | None:
    new, old = parents
    if isinstance(a, ast.AST) and isinstance(b, ast.AST):
        return _first_difference(a, b, allowed, view)
    if isinstance(a, list) and isinstance(b, list):
        for x, y in zip(a, b, strict=False):
            found = _compare(x, y, allowed, view, parents)
            if found is not None:
                return found
        if len(a) != len(b):
            extra = (b if len(b) > len(a) else a)[min(len(a), len(b))]
            node = extra if isinstance(extra, ast.AST) else new
            return _line(node, old), "adds or removes code"
        return None
    if a != b:
        return _line(new, old), f"changes `{_short(old)}`"
    return None


def _line(new: ast.AST, old: ast.AST) -> int:
    return int(getattr(new, "lineno", 0) or getattr(old, "lineno", 0) or 1)


def _what(node: ast.AST) -> str:
    return f"changes the code (`{_short(node)}`)"


def _short(node: ast.AST) -> str:
    try:
        text = ast.unparse(node)
    except Exception:
        text = type(node).__name__
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:57] + "..."


def _never(old: ast.AST, new: ast.AST) -> bool:
    return False


# --- the parts a scope takes out ---


def _with_body(node: ast.AST, body: list[ast.stmt]) -> ast.AST:
    """A shallow copy of an owner with another body (an empty one reads as `pass`)."""
    clone = copy.copy(node)
    clone.body = body or [ast.Pass()]  # type: ignore[attr-defined]
    return clone


def _docstring(node: ast.AST) -> ast.AST:
    if isinstance(node, _OWNERS) and node.body and _is_docstring(node.body[0]):
        return _with_body(node, node.body[1:])
    return node


def _is_docstring(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def _typing_import(node: ast.AST) -> ast.AST:
    """The node without its `from typing import ...` statements: in a body, and in the branches of an
    `if` or `try` (`if TYPE_CHECKING:` is where typing imports often live)."""
    changed = {}
    for name in _STATEMENT_LISTS.get(type(node), ()):
        statements: list[ast.stmt] = getattr(node, name)
        kept = [
            statement
            for statement in statements
            if not (isinstance(statement, ast.ImportFrom) and statement.module == "typing")
        ]
        if len(kept) != len(statements):
            changed[name] = kept or [ast.Pass()]  # an emptied list reads as `pass`
    if not changed:
        return node
    clone = copy.copy(node)
    for name, kept in changed.items():
        setattr(clone, name, kept)
    return clone


def _annotation(node: ast.AST) -> ast.AST:
    if isinstance(node, ast.arg) and node.annotation is not None:
        clone = copy.copy(node)
        clone.annotation = None
        return clone
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns is not None:
        clone_def = copy.copy(node)
        clone_def.returns = None
        return clone_def
    if isinstance(node, ast.AnnAssign) and node.value is not None:
        return ast.Assign(targets=[node.target], value=node.value, lineno=node.lineno)
    return node


def _annotations(tree: ast.AST) -> int:
    count = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.arg):
            count += node.annotation is not None
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            count += node.returns is not None
        else:
            count += isinstance(node, ast.AnnAssign)
    return count


def _docstrings(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, _OWNERS) and node.body and _is_docstring(node.body[0]):
            first = node.body[0]
            assert isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            yield first.lineno, str(first.value.value)


def _docstrings_kept(old: ast.AST, new: ast.AST) -> tuple[int, str] | None:
    before = [text for _, text in _docstrings(old)]
    for line, text in _docstrings(new):
        if text not in before:
            return line, "changes a docstring"
    return None


# --- the rewrites a scope allows ---


def _names_in(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _is_str(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _to_fstring(old: ast.AST, new: ast.AST) -> bool:
    """`"..." % x` or `"...".format(...)` become an f-string (or a plain string) over the same names."""
    if isinstance(old, ast.JoinedStr) and isinstance(new, ast.Constant):  # f"text" -> "text"
        return all(isinstance(v, ast.Constant) for v in old.values)
    percent = isinstance(old, ast.BinOp) and isinstance(old.op, ast.Mod) and _is_str(old.left)
    fmt = (
        isinstance(old, ast.Call)
        and isinstance(old.func, ast.Attribute)
        and old.func.attr == "format"
        and _is_str(old.func.value)
    )
    if not (percent or fmt) or not isinstance(new, ast.JoinedStr | ast.Constant):
        return False
    return _names_in(new) <= _names_in(old)


def _typing_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return node.attr if node.value.id == "typing" else None
    return None


def _to_builtin_generic(old: ast.AST, new: ast.AST) -> bool:
    if not (isinstance(old, ast.Subscript) and isinstance(new, ast.Subscript)):
        return False
    name, builtin = _typing_name(old.value), ast.unparse(new.value)
    if name not in _TYPING or _TYPING[name] != builtin:
        return False
    return _first_difference(old.slice, new.slice, _modernize) is None


def _to_union(old: ast.AST, new: ast.AST) -> bool:
    if not (isinstance(old, ast.Subscript) and isinstance(new, ast.BinOp)):
        return False
    name = _typing_name(old.value)
    if name not in ("Optional", "Union") or not isinstance(new.op, ast.BitOr):
        return False
    parts = old.slice.elts if isinstance(old.slice, ast.Tuple) else [old.slice]
    if name == "Optional":
        parts = [*parts, ast.Constant(None)]
    members: list[ast.AST] = []
    _flatten(new, members)
    if len(members) != len(parts):
        return False
    return all(
        _first_difference(a, b, _modernize) is None for a, b in zip(parts, members, strict=True)
    )


def _flatten(node: ast.AST, out: list[ast.AST]) -> None:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        _flatten(node.left, out)
        _flatten(node.right, out)
    else:
        out.append(node)


def _bare_super(old: ast.AST, new: ast.AST) -> bool:
    def is_super(node: ast.AST) -> bool:
        return (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "super"
        )

    return is_super(old) and is_super(new) and bool(old.args) and not new.args  # type: ignore[attr-defined]


def _renamed_builtin(old: ast.AST, new: ast.AST) -> bool:
    old_ok = isinstance(old, ast.Name) and old.id in ("IOError", "EnvironmentError")
    return old_ok and isinstance(new, ast.Name) and new.id == "OSError"


def _comprehension(old: ast.AST, new: ast.AST) -> bool:
    ok = isinstance(old, ast.Call) and isinstance(old.func, ast.Name)
    targets = {"dict": (ast.DictComp, ast.Dict), "set": (ast.SetComp, ast.Set)}
    if not ok or old.func.id not in targets or len(old.args) != 1:  # type: ignore[attr-defined]
        return False
    return isinstance(new, targets[old.func.id]) and _names_in(new) <= _names_in(old)  # type: ignore[attr-defined]


def _class_bases(old: list[ast.expr], new: list[ast.expr]) -> bool:
    """A list of bases that lost `object` and is otherwise the same."""
    kept = [b for b in old if not (isinstance(b, ast.Name) and b.id == "object")]
    return len(kept) == len(new) and all(
        ast.dump(a) == ast.dump(b) for a, b in zip(kept, new, strict=True)
    )


def _modernize(old: ast.AST, new: ast.AST) -> bool:
    if isinstance(old, ast.ClassDef) and isinstance(new, ast.ClassDef):
        if ast.dump(ast.List(old.bases)) != ast.dump(ast.List(new.bases)):
            if not _class_bases(old.bases, new.bases):
                return False
            trimmed = copy.copy(new)
            assert isinstance(trimmed, ast.ClassDef)
            trimmed.bases = old.bases
            return _first_difference(old, trimmed, _modernize, _typing_import) is None
        return False
    rewrites = (
        _to_fstring,
        _to_builtin_generic,
        _to_union,
        _bare_super,
        _renamed_builtin,
        _comprehension,
    )
    return any(rewrite(old, new) for rewrite in rewrites)


def _self_assert(node: ast.AST) -> bool:
    call = node.value if isinstance(node, ast.Expr) else node
    return (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and isinstance(call.func.value, ast.Name)
        and call.func.value.id == "self"
        and call.func.attr.startswith(("assert", "fail"))
    )


def _pytest_call(node: ast.AST) -> bool:
    call = node.value if isinstance(node, ast.Expr) else node
    func = call.func if isinstance(call, ast.Call) else None
    return (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Name)
        and func.value.id == "pytest"
    )


def _assertion(old: ast.AST, new: ast.AST) -> bool:
    if isinstance(old, ast.Expr) and _self_assert(old):
        if isinstance(new, ast.Assert) or _pytest_call(new):
            return True
        if isinstance(new, ast.With) and all(_pytest_call(i.context_expr) for i in new.items):
            return True
    if isinstance(old, ast.withitem) and isinstance(new, ast.withitem):
        return _self_assert(old.context_expr) and _pytest_call(new.context_expr)
    if isinstance(old, ast.Attribute) and isinstance(new, ast.Attribute):
        return old.attr == "exception" and new.attr == "value"
    if isinstance(old, ast.Name) and isinstance(new, ast.Name):
        return old.id in ("cm", "ctx", "context", "raised", "err", "exc") and new.id in (
            "excinfo",
            "exc_info",
        )
    return False
