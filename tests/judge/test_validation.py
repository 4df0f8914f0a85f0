"""validate(): one test per rejection class with real code, plus what must be accepted."""

from __future__ import annotations

import pytest

from pipeline.judge.policy import Allowances, Policy
from pipeline.judge.validation import validate
from pipeline.judge.verdicts import Reason, Status, Verdict
from pipeline.source.chunking import Chunk, ChunkKind, ScopeKind

STRICT = Policy()
ANNOTATE = Policy(Allowances(annotations=True))


def chunk(
    text: str,
    *,
    kind: ChunkKind = "function",
    name: str = "f",
    start_line: int = 20,
    enclosing: tuple[ScopeKind, ...] = (),
) -> Chunk:
    """A chunk as the chunker cuts it: dedented text whose first line is file line start_line."""
    end_line = start_line + text.count("\n") - 1
    indent = "    " * len(enclosing)
    return Chunk(
        "pkg/mod.py",
        0,
        len(text),
        start_line,
        end_line,
        kind,
        name,
        text,
        indent,
        enclosing=enclosing,
    )


def rejected(verdict: Verdict, reason: Reason, *words: str) -> None:
    assert verdict.status is Status.REJECTED, verdict
    assert verdict.reason is reason, verdict
    assert verdict.detail.endswith("."), verdict.detail
    for word in words:
        assert word in verdict.detail, verdict.detail


FUNC = '''def load(path, *, encoding="utf-8"):
    """Read a config file."""
    with open(path, encoding=encoding) as fh:
        text = fh.read()
    return parse(text)
'''

CLASS = '''class Store:
    """Key-value store."""

    limit = 10

    def get(self, key, default=None):
        return self._data.get(key, default)

    def put(self, key, value):
        self._data[key] = value

    @property
    def size(self):
        return len(self._data)
'''

METHOD = """def total(self, items):
    result = 0
    for item in items:
        result += item.price
    return result
"""


def test_truncated_even_if_code_is_fine() -> None:
    rejected(validate(chunk(FUNC), FUNC, policy=STRICT, finish_reason="length"), Reason.CUT_OFF)
    assert Reason("truncated") is Reason.CUT_OFF  # one cause, one code; older ledgers still read


def test_identical_text_is_unchanged_not_accepted() -> None:
    assert validate(chunk(FUNC), FUNC + "\n\n  ", policy=STRICT) == Verdict.unchanged()


def test_leading_whitespace_difference_is_a_change() -> None:
    assert validate(chunk(FUNC), "\n" + FUNC, policy=STRICT).status is Status.ACCEPTED


def test_real_rewrite_accepted() -> None:
    proposed = FUNC.replace(
        "    with open(path, encoding=encoding) as fh:\n        text = fh.read()\n",
        "    text = Path(path).read_text(encoding=encoding)\n",
    )
    assert validate(chunk(FUNC), proposed, policy=STRICT) == Verdict.accepted()


def test_empty_proposal() -> None:
    rejected(validate(chunk(FUNC), "\n", policy=STRICT), Reason.EMPTY, "`f`")


def test_syntax_error_line_in_file_coordinates() -> None:
    proposed = FUNC.replace("return parse(text)", "return parse(text")
    # The unclosed call is on line 5 of the chunk -> file line 24.
    verdict = validate(chunk(FUNC, start_line=20), proposed, policy=STRICT)
    rejected(verdict, Reason.SYNTAX, "line 24")
    assert "error at 5" not in verdict.detail


def test_return_in_top_level_statements() -> None:
    c = chunk(
        "config = load()\nif config is None:\n    config = {}\n", kind="statements", start_line=5
    )
    proposed = "config = load()\nif config is None:\n    return {}\n"
    rejected(
        validate(c, proposed, policy=STRICT), Reason.COMPILE, "Line 7", "'return' outside function"
    )


def test_top_level_await_rejected() -> None:
    c = chunk("data = fetch()\n", kind="statements", start_line=3)
    rejected(
        validate(c, "data = await fetch()\n", policy=STRICT), Reason.COMPILE, "Line 3", "await"
    )


def test_await_in_sync_method() -> None:
    c = chunk(METHOD, kind="method", name="total", start_line=40, enclosing=("class",))
    proposed = METHOD.replace("result += item.price", "result += await item.price()")
    rejected(
        validate(c, proposed, policy=STRICT), Reason.COMPILE, "Line 43", "'await' outside async"
    )


def test_await_in_async_method_accepted() -> None:
    text = METHOD.replace("def total", "async def total")
    c = chunk(text, kind="method", name="total", enclosing=("class",))
    proposed = text.replace("result += item.price", "result += await item.price()")
    assert validate(c, proposed, policy=STRICT).status is Status.ACCEPTED


def test_method_with_return_compiles_in_class_context() -> None:
    c = chunk(METHOD, kind="method", name="total", enclosing=("class",))
    proposed = "def total(self, items):\n    return sum(item.price for item in items)\n"
    assert validate(c, proposed, policy=STRICT).status is Status.ACCEPTED


def test_statements_inside_a_function_may_return() -> None:
    c = chunk("x = compute()\n", kind="statements", enclosing=("function",))
    assert validate(c, "x = compute()\nreturn x\n", policy=STRICT).status is Status.ACCEPTED


def test_duplicate_arguments() -> None:
    proposed = FUNC.replace("def load(path, *, encoding", "def load(path, *, path")
    rejected(validate(chunk(FUNC), proposed, policy=STRICT), Reason.COMPILE, "duplicate argument")


def test_nonlocal_at_module_level() -> None:
    c = chunk("counter = 0\n", kind="statements", start_line=8)
    proposed = "nonlocal counter\ncounter = 0\n"
    rejected(validate(c, proposed, policy=STRICT), Reason.COMPILE, "Line 8", "nonlocal")


def test_nonlocal_to_a_variable_of_the_real_enclosing_function_accepted() -> None:
    # A chunk cut from inside a function: `total` lives in the enclosing function, not the chunk.
    text = "def add(n):\n    add_to_total(n)\n"
    c = chunk(text, kind="function", name="add", enclosing=("function",))
    proposed = "def add(n):\n    nonlocal total\n    total += n\n"
    assert validate(c, proposed, policy=STRICT).status is Status.ACCEPTED


def test_break_outside_loop() -> None:
    proposed = FUNC.replace("    return parse(text)", "    break")
    rejected(
        validate(chunk(FUNC), proposed, policy=STRICT),
        Reason.COMPILE,
        "Line 24",
        "'break' outside loop",
    )


def test_method_dropped_from_class() -> None:
    proposed = CLASS.replace(
        "    def put(self, key, value):\n        self._data[key] = value\n\n", ""
    )
    rejected(
        validate(chunk(CLASS, kind="class", name="Store"), proposed, policy=STRICT),
        Reason.DEFINITION_REMOVED,
        "`Store.put`",
        "line 28",
    )


def test_class_attribute_dropped() -> None:
    proposed = CLASS.replace("    limit = 10\n\n", "")
    rejected(
        validate(chunk(CLASS, kind="class"), proposed, policy=STRICT),
        Reason.DEFINITION_REMOVED,
        "`Store.limit`",
    )


def test_module_level_name_dropped() -> None:
    c = chunk("TIMEOUT = 5\n_cache = {}\n", kind="statements")
    rejected(validate(c, "_cache = {}\n", policy=STRICT), Reason.DEFINITION_REMOVED, "`TIMEOUT`")
    # A private name is a definition too: callers inside the module use it.
    rejected(validate(c, "TIMEOUT = 5\n", policy=STRICT), Reason.DEFINITION_REMOVED, "`_cache`")
    allowed = Policy(Allowances(definitions_removed=True))
    assert validate(c, "TIMEOUT = 5\n", policy=allowed).status is Status.ACCEPTED


def test_changed_default() -> None:
    proposed = FUNC.replace('encoding="utf-8"', 'encoding="latin-1"')
    rejected(
        validate(chunk(FUNC), proposed, policy=STRICT),
        Reason.SIGNATURE_CHANGED,
        "`encoding`",
        "`load`",
        '"latin-1"',
    )


def test_default_spacing_is_not_a_change() -> None:
    proposed = FUNC.replace('encoding="utf-8"', 'encoding = ("utf-8")')
    assert validate(chunk(FUNC), proposed, policy=STRICT).status is Status.ACCEPTED


def test_renamed_parameter() -> None:
    proposed = FUNC.replace("load(path,", "load(filename,").replace("open(path", "open(filename")
    rejected(
        validate(chunk(FUNC), proposed, policy=STRICT), Reason.SIGNATURE_CHANGED, "`path`", "`load`"
    )


def test_kind_change_keyword_only_to_positional() -> None:
    proposed = FUNC.replace("load(path, *, encoding", "load(path, encoding")
    rejected(
        validate(chunk(FUNC), proposed, policy=STRICT), Reason.SIGNATURE_CHANGED, "keyword-only"
    )


def test_signature_change_allowed_by_policy() -> None:
    proposed = FUNC.replace('encoding="utf-8"', 'encoding="latin-1"')
    policy = Policy(Allowances(signatures=True))
    assert validate(chunk(FUNC), proposed, policy=policy).status is Status.ACCEPTED


def test_annotations_need_the_allowance() -> None:
    proposed = FUNC.replace("def load(path,", "def load(path: str,")
    rejected(
        validate(chunk(FUNC), proposed, policy=STRICT),
        Reason.SIGNATURE_CHANGED,
        "annotation",
        "`path`",
    )
    assert validate(chunk(FUNC), proposed, policy=ANNOTATE).status is Status.ACCEPTED
    proposed = FUNC.replace('"utf-8"):', '"utf-8") -> dict:')
    rejected(
        validate(chunk(FUNC), proposed, policy=STRICT),
        Reason.SIGNATURE_CHANGED,
        "return annotation",
    )


def test_decorator_removed() -> None:
    proposed = CLASS.replace("    @property\n", "")
    rejected(
        validate(chunk(CLASS, kind="class"), proposed, policy=STRICT),
        Reason.SIGNATURE_CHANGED,
        "decorator",
        "`Store.size`",
    )


def test_new_helper_needs_allowance() -> None:
    proposed = (
        "def _read(path, encoding):\n    return open(path, encoding=encoding).read()\n\n\n" + FUNC
    )
    rejected(validate(chunk(FUNC), proposed, policy=STRICT), Reason.NEW_NAME, "`_read`", "Line 20")
    policy = Policy(Allowances(new_definitions=True))
    assert validate(chunk(FUNC), proposed, policy=policy).status is Status.ACCEPTED


def test_new_method_in_class_needs_allowance() -> None:
    proposed = CLASS + "\n    def clear(self):\n        self._data.clear()\n"
    rejected(
        validate(chunk(CLASS, kind="class"), proposed, policy=STRICT),
        Reason.NEW_NAME,
        "`Store.clear`",
    )


def test_new_import_needs_allowance() -> None:
    proposed = "from pathlib import Path\n\n\n" + FUNC
    rejected(validate(chunk(FUNC), proposed, policy=STRICT), Reason.NEW_NAME, "import `Path`")
    policy = Policy(Allowances(imports=True))
    assert validate(chunk(FUNC), proposed, policy=policy).status is Status.ACCEPTED


def test_local_names_and_imports_inside_bodies_are_free() -> None:
    proposed = FUNC.replace(
        '    """Read a config file."""\n',
        '    """Read a config file."""\n    import io\n    helper = 1\n',
    )
    assert validate(chunk(FUNC), proposed, policy=STRICT).status is Status.ACCEPTED


@pytest.mark.parametrize(
    "comment",
    [
        "# rest of code unchanged",
        "# ... existing code ...",
        "# (unchanged)",
        "# same as before",
        "# TODO: implement",
        "# other methods unchanged",
    ],
)
def test_elision_comments(comment: str) -> None:
    proposed = FUNC.replace("    return parse(text)\n", f"    {comment}\n")
    rejected(validate(chunk(FUNC), proposed, policy=STRICT), Reason.LAZY, "Line 24", comment)


def test_elision_comment_already_in_original_is_fine() -> None:
    text = FUNC.replace(
        "    return parse(text)", "    # TODO: implement caching\n    return parse(text)"
    )
    proposed = text.replace("fh.read()", "fh.read().strip()")
    assert validate(chunk(text), proposed, policy=STRICT).status is Status.ACCEPTED


def test_ordinary_comment_mentioning_unchanged_is_fine() -> None:
    proposed = FUNC.replace(
        "        text = fh.read()\n", "        text = fh.read()  # bytes stay unchanged on disk\n"
    )
    assert validate(chunk(FUNC), proposed, policy=STRICT).status is Status.ACCEPTED


@pytest.mark.parametrize("stub", ["...", "pass", '"""Read a config file."""'])
def test_body_replaced_by_stub(stub: str) -> None:
    proposed = f'def load(path, *, encoding="utf-8"):\n    {stub}\n'
    rejected(validate(chunk(FUNC), proposed, policy=STRICT), Reason.LAZY, "`load`", "Line 20")


def test_ellipsis_added_among_statements() -> None:
    proposed = FUNC.replace("        text = fh.read()\n", "        ...\n        text = fh.read()\n")
    rejected(validate(chunk(FUNC), proposed, policy=STRICT), Reason.LAZY, "Line 23", "`...`")


def test_stub_original_may_stay_a_stub() -> None:
    text = "def hook(event):\n    ...\n"
    assert (
        validate(
            chunk(text), 'def hook(event):\n    """Called on events."""\n    ...\n', policy=STRICT
        ).status
        is Status.ACCEPTED
    )


FSTRING_312 = 'def label(user):\n    return f"{user["name"]} ({user["id"]})"\n'
LABEL = 'def label(user):\n    return "%s (%s)" % (user["name"], user["id"])\n'


def test_pep701_fstring_rejected_for_311() -> None:
    verdict = validate(chunk(LABEL), FSTRING_312, policy=Policy(target_python=(3, 11)))
    rejected(verdict, Reason.TARGET_SYNTAX, "Line 21", "3.12", "3.11")


def test_pep701_fstring_accepted_for_312() -> None:
    # Accepted whatever interpreter codemill runs on: compile() is skipped for syntax newer than it.
    verdict = validate(chunk(LABEL), FSTRING_312, policy=Policy(target_python=(3, 12)))
    assert verdict.status is Status.ACCEPTED


def test_async_generator_returning_a_value() -> None:
    proposed = "async def label(user):\n    yield user\n    return 1\n"
    policy = Policy(Allowances(signatures=True))
    rejected(
        validate(chunk(LABEL), proposed, policy=policy),
        Reason.COMPILE,
        "Line 22",
        "async generator",
    )


def test_match_rejected_for_39() -> None:
    text = "def kind(x):\n    if x == 1:\n        return 'one'\n    return 'many'\n"
    proposed = (
        "def kind(x):\n    match x:\n        case 1:\n            return 'one'\n    return 'many'\n"
    )
    rejected(
        validate(chunk(text), proposed, policy=Policy(target_python=(3, 9))),
        Reason.TARGET_SYNTAX,
        "match",
        "3.10",
    )
    assert (
        validate(chunk(text), proposed, policy=Policy(target_python=(3, 10))).status
        is Status.ACCEPTED
    )


def test_walrus_rejected_for_37() -> None:
    text = "def first(xs):\n    n = len(xs)\n    return n\n"
    proposed = "def first(xs):\n    return (n := len(xs))\n"
    rejected(
        validate(chunk(text), proposed, policy=Policy(target_python=(3, 7))),
        Reason.TARGET_SYNTAX,
        ":=",
        "3.8",
    )


FWD = "def find(name):\n    return cast(Optional[Node], lookup(name))\n"


def test_string_union_in_runtime_position_rejected() -> None:
    proposed = 'def find(name):\n    return cast("Node" | None, lookup(name))\n'
    rejected(
        validate(chunk(FWD), proposed, policy=STRICT, module_has_future_annotations=True),
        Reason.RUNTIME_ANNOTATION,
        "Line 21",
    )


def test_string_union_as_pure_annotation_needs_future_import() -> None:
    text = "def find(name: str) -> Node:\n    return lookup(name)\n"
    proposed = 'def find(name: str) -> "Node" | None:\n    return lookup(name)\n'
    accepted = validate(chunk(text), proposed, policy=ANNOTATE, module_has_future_annotations=True)
    assert accepted.status is Status.ACCEPTED
    verdict = validate(chunk(text), proposed, policy=ANNOTATE, module_has_future_annotations=False)
    rejected(verdict, Reason.RUNTIME_ANNOTATION, "Line 20", "string")


def test_pep604_union_rejected_for_39_without_future_import() -> None:
    text = "def size(x: Optional[int]) -> int:\n    return x or 0\n"
    proposed = "def size(x: int | None) -> int:\n    return x or 0\n"
    py39 = Policy(Allowances(annotations=True), target_python=(3, 9))
    rejected(validate(chunk(text), proposed, policy=py39), Reason.RUNTIME_ANNOTATION, "3.10", "3.9")
    future = validate(chunk(text), proposed, policy=py39, module_has_future_annotations=True)
    assert future.status is Status.ACCEPTED
    assert validate(chunk(text), proposed, policy=ANNOTATE).status is Status.ACCEPTED  # 3.11 target


def test_pep604_in_isinstance_for_39_even_with_future_import() -> None:
    text = "def check(x):\n    return isinstance(x, (int, str))\n"
    proposed = "def check(x):\n    return isinstance(x, int | str)\n"
    py39 = Policy(target_python=(3, 9))
    verdict = validate(chunk(text), proposed, policy=py39, module_has_future_annotations=True)
    rejected(verdict, Reason.RUNTIME_ANNOTATION, "runtime position")


def test_bitwise_or_on_values_is_not_a_union() -> None:
    text = "def flags(a, b):\n    return a + b\n"
    proposed = "def flags(a, b):\n    return a | b | FLAG_X\n"
    assert (
        validate(chunk(text), proposed, policy=Policy(target_python=(3, 9))).status
        is Status.ACCEPTED
    )
