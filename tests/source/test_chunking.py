"""chunk_module / cut_module / plan_file on small real modules: every unit kind and the coverage invariant."""

from __future__ import annotations

import re
import textwrap

import pytest

from pipeline.source.chunking import (
    Chunk,
    ModulePlan,
    check_coverage,
    chunk_module,
    cut_module,
    plan_file,
)
from pipeline.source.cutter import Cutter, estimate_tokens
from pipeline.source.files import SkippedFile, SkipReason, SourceFile
from pipeline.source.splicing import splice

MODULE = textwrap.dedent(
    '''\
    #!/usr/bin/env python
    """Module docstring."""

    import os
    from typing import TYPE_CHECKING

    if TYPE_CHECKING:
        from collections.abc import Iterator

    LIMIT = 3


    # a section banner, detached by a blank line

    # helper: attached to the function below
    @cache
    def helper(x: int) -> int:
        def inner(y):
            return y

        async def ainner():
            return 1

        return inner(x)


    async def fetch(url: str) -> bytes:
        return b""


    if os.name == "nt":
        def platform():
            return "win"
    else:
        def platform():
            return "posix"


    class Small:
        x = 1


    if __name__ == "__main__":
        helper(LIMIT)
    '''
)


def by_name(chunks: list[Chunk] | tuple[Chunk, ...]) -> dict[str, Chunk]:
    return {c.name: c for c in chunks}


def gap_texts(plan: ModulePlan, data: bytes) -> list[str]:
    return [data[g.start_byte : g.end_byte].decode() for g in plan.gaps]


def test_top_level_units_and_their_kinds() -> None:
    plan = cut_module("m.py", MODULE)
    check_coverage(plan, len(MODULE.encode()))
    chunks = by_name(plan.chunks)
    kinds = [(c.kind, c.name) for c in plan.chunks]
    assert kinds == [
        ("statements", "<statements 2-10>"),
        ("function", "helper"),
        ("function", "fetch"),
        ("statements", "<statements 31-36>"),
        ("class", "Small"),
        ("statements", "<statements 43-44>"),
    ]
    helper = chunks["helper"]
    # the attached comment and the decorator belong to the function; nested defs are inside it
    assert helper.text.startswith("# helper: attached to the function below\n@cache\ndef helper(")
    assert "async def ainner():" in helper.text and "def inner(y):" in helper.text
    assert helper.enclosing == () and helper.indent == ""
    assert helper.start_line == 15 and helper.end_line == 24
    # the detached banner is in a gap, never sent
    assert any("section banner" in g for g in gap_texts(plan, MODULE.encode()))
    assert "if TYPE_CHECKING:" in chunks["<statements 2-10>"].text
    assert "def platform():" in chunks["<statements 31-36>"].text
    assert chunks["<statements 43-44>"].text == 'if __name__ == "__main__":\n    helper(LIMIT)\n'


def test_context_has_imports_and_sibling_signatures() -> None:
    chunks = by_name(chunk_module("m.py", MODULE))
    helper = chunks["helper"]
    assert helper.context.imports == "import os\nfrom typing import TYPE_CHECKING\n"
    assert helper.context.sibling_signatures == (
        "async def fetch(url: str) -> bytes: ...",
        "class Small: ...",
    )
    assert helper.context.class_header == ""


def test_spans_index_the_original_bytes_and_lines() -> None:
    data = MODULE.encode()
    lines = MODULE.splitlines(keepends=True)
    for c in chunk_module("m.py", MODULE):
        original = data[c.start_byte : c.end_byte].decode()
        assert original == c.text  # top-level chunks are not indented
        assert "".join(lines[c.start_line - 1 : c.end_line]) == original


BIG_CLASS = textwrap.dedent(
    '''\
    import dataclasses


    @dataclasses.dataclass
    class Foo(Base, metaclass=Meta):
        """A class too big for the budget."""

        x: int = 1
        y: int = 2

        # attached to bar
        @property
        def bar(self) -> int:
            text = """
    column zero inside a string
        indented inside a string
    """
            return self.x

        def baz(self, other: int, *args: str) -> str:
            for i in range(other):
                print(i)
            return str(other)

        z = 3
        # footer comment of the class
    '''
)


def test_class_over_budget_is_split_into_methods_and_statement_runs() -> None:
    plan = cut_module("m.py", BIG_CLASS, budget=40)
    data = BIG_CLASS.encode()
    check_coverage(plan, len(data))
    chunks = by_name(plan.chunks)
    assert list(chunks) == [
        "<statements 1-1>",
        "Foo.<statements 6-9>",
        "Foo.bar",
        "Foo.baz",
        "Foo.<statements 25-25>",
    ]
    bar = chunks["Foo.bar"]
    assert bar.kind == "method" and bar.enclosing == ("class",) and bar.indent == "    "
    # dedented: first line at column 0; string contents untouched
    assert bar.text.startswith("# attached to bar\n@property\ndef bar(self) -> int:\n    text = ")
    assert "\ncolumn zero inside a string\n    indented inside a string\n" in bar.text
    assert bar.context.class_header == "@dataclasses.dataclass\nclass Foo(Base, metaclass=Meta):"
    assert bar.context.sibling_signatures == ("def baz(self, other: int, *args: str) -> str: ...",)
    assert bar.context.imports == "import dataclasses\n"
    stmts = chunks["Foo.<statements 6-9>"]
    assert stmts.kind == "statements" and stmts.enclosing == ("class",)
    assert stmts.text == '"""A class too big for the budget."""\n\nx: int = 1\ny: int = 2\n'
    gaps = gap_texts(plan, data)
    assert gaps[0] == "\n\n@dataclasses.dataclass\nclass Foo(Base, metaclass=Meta):\n"
    assert "    # footer comment of the class\n" in gaps


def test_class_that_fits_goes_whole() -> None:
    [_imports, foo] = chunk_module("m.py", BIG_CLASS, budget=2000)
    assert foo.kind == "class" and foo.name == "Foo" and not foo.oversized
    assert foo.text.startswith("@dataclasses.dataclass\nclass Foo(")


def test_definition_over_budget_is_one_oversized_chunk() -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(200))
    text = f"def big():\n{body}\n\ndef small():\n    pass\n"
    big, small = chunk_module("m.py", text, budget=100)
    assert big.name == "big" and big.oversized and estimate_tokens(big.text) > 100
    assert small.name == "small" and not small.oversized


def test_statement_runs_are_cut_at_the_budget() -> None:
    text = "".join(f"NAME_{i} = {i} * 1000\n" for i in range(40))
    chunks = chunk_module("m.py", text, budget=50)
    assert len(chunks) > 1
    assert all(c.kind == "statements" and not c.oversized for c in chunks)
    assert all(estimate_tokens(c.text) <= 50 for c in chunks)
    assert "".join(c.text for c in chunks) == text


def test_tab_indented_class_is_split_with_tab_indent() -> None:
    methods = "".join(f"\tdef m{i}(self):\n\t\treturn {i} + {i}\n\n" for i in range(20))
    text = f"class T:\n{methods}"
    plan = cut_module("m.py", text, budget=30)
    check_coverage(plan, len(text))
    m3 = by_name(plan.chunks)["T.m3"]
    assert m3.indent == "\t" and m3.text == "def m3(self):\n\treturn 3 + 3\n"


def test_member_that_cannot_be_dedented_keeps_its_class_whole() -> None:
    # the continuation line `1, 2)` is less indented than the class body: no lossless dedent
    methods = "".join(f"    def m{i}(self):\n        return {i}\n\n" for i in range(20))
    text = f"class T:\n{methods}    def odd(self):\n        return max(\n1, 2)\n"
    [whole] = chunk_module("m.py", text, budget=30)
    assert whole.kind == "class" and whole.oversized and whole.indent == ""
    assert whole.text == text


def test_non_ascii_and_bom_offsets_are_bytes() -> None:
    text = '"""Ünïcödé."""\n\n\ndef f():\n    return "é"\n'
    data = b"\xef\xbb\xbf" + text.encode()
    plan = cut_module("m.py", text, bom=True)
    check_coverage(plan, len(data))
    f = by_name(plan.chunks)["f"]
    assert data[f.start_byte : f.end_byte] == b'def f():\n    return "\xc3\xa9"\n'
    assert plan.gaps[0].what == "byte order mark" and plan.gaps[0].end_byte == 3


def test_latin1_offsets_index_latin1_bytes() -> None:
    text = "# -*- coding: latin-1 -*-\nA = 'café'\n\n\ndef g():\n    return 'ñ'\n"
    data = text.encode("latin-1")
    plan = cut_module("m.py", text, encoding="iso-8859-1")
    check_coverage(plan, len(data))
    g = by_name(plan.chunks)["g"]
    assert data[g.start_byte : g.end_byte] == "def g():\n    return 'ñ'\n".encode("latin-1")
    assert g.encoding == "iso-8859-1"


def test_gaps_hold_only_blank_lines_comments_and_class_headers() -> None:
    plan = cut_module("m.py", BIG_CLASS + MODULE.split("\n", 1)[1], budget=40)
    for gap in gap_texts(plan, (BIG_CLASS + MODULE.split("\n", 1)[1]).encode()):
        for line in gap.splitlines():
            stripped = line.strip()
            assert not stripped or stripped.startswith(("#", "@", "class ")), line


def test_check_coverage_rejects_holes_and_overlaps() -> None:
    plan = cut_module("m.py", MODULE)
    size = len(MODULE.encode())
    with pytest.raises(ValueError, match="belong to no chunk"):
        check_coverage(plan, size + 1)
    twice = ModulePlan(plan.chunks + plan.chunks[:1], plan.gaps)
    with pytest.raises(ValueError, match="do not follow"):
        check_coverage(twice, size)
    hole = ModulePlan(plan.chunks[1:], plan.gaps)
    with pytest.raises(ValueError, match="do not follow"):
        check_coverage(hole, size)


def test_empty_and_comment_only_modules_have_no_chunks() -> None:
    for text in ("", "# only a comment\n\n"):
        plan = cut_module("m.py", text)
        assert plan.chunks == ()
        check_coverage(plan, len(text))


def test_plan_file_turns_a_syntax_error_into_a_parse_error_skip() -> None:
    text = "x = 1\ndef broken(:\n    pass\n"
    src = SourceFile("pkg/bad.py", text.encode(), text)
    skipped = plan_file(src, 2000)
    assert isinstance(skipped, SkippedFile)
    assert skipped.reason is SkipReason.PARSE_ERROR and skipped.path == "pkg/bad.py"
    assert skipped.detail == "line 2, column 12: invalid syntax"


def test_parse_error_detail_is_one_sentence_with_the_line() -> None:
    text = "x = 1\nprint 'hello'\n"
    skipped = plan_file(SourceFile("m.py", text.encode(), text), 2000)
    assert isinstance(skipped, SkippedFile)
    assert re.fullmatch(
        r"line 2, column 1: Missing parentheses in call to 'print'.*", skipped.detail
    )


def test_module_libcst_cannot_regenerate_is_cut_from_its_own_lines() -> None:
    # libcst 1.x drops the space in `except OSError :` when generating code (seen in test_posix.py);
    # spans come from the source's lines, not from generated code, so the chunk is the file's text
    text = "try:\n    pass\nexcept OSError :\n    pass\n"
    chunks = plan_file(SourceFile("m.py", text.encode(), text), 2000)
    assert isinstance(chunks, list) and [c.text for c in chunks] == [text]


def test_plan_file_skips_a_module_the_codegen_fallback_cannot_regenerate() -> None:
    # a form feed sends the module to the codegen fallback, which must regenerate it byte for byte
    text = "x = 1\n\f\ntry:\n    pass\nexcept OSError :\n    pass\n"
    skipped = plan_file(SourceFile("m.py", text.encode(), text), 2000)
    assert isinstance(skipped, SkippedFile) and skipped.reason is SkipReason.PARSE_ERROR
    assert skipped.detail.startswith("line 5: libcst does not regenerate")


def test_plan_file_returns_chunks_for_a_good_file() -> None:
    src = SourceFile("m.py", MODULE.encode(), MODULE)
    chunks = plan_file(src, 2000)
    assert isinstance(chunks, list) and [c.name for c in chunks][1] == "helper"


def test_estimate_tokens_is_bytes_over_four_rounded_up() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd") == 1
    assert estimate_tokens("abcde") == 2
    assert estimate_tokens("é") == 1  # 2 UTF-8 bytes


def test_digest_depends_on_text_and_context() -> None:
    a = by_name(chunk_module("m.py", MODULE))["helper"]
    b = by_name(chunk_module("m.py", MODULE.replace("import os\n", "import os, re\n")))["helper"]
    c = by_name(chunk_module("other.py", MODULE))["helper"]
    assert a.text == b.text and a.digest != b.digest
    assert a.digest == c.digest


# Modules whose lines fool a naive reading: text at a level's indent inside strings, brackets and
# backslash continuations, decorators, `;`, CR/CRLF newlines, no final newline, repeated text.
TRICKY = {
    "docstring with statements in it": '''"""Module.

from os import path
def f():
"""
from os import path


def f():
    return """
def g():
"""
''',
    "string holding a copy of the next statement": 'x = """\ny = 1\n"""\ny = 1\n',
    "triple quote inside a plain string": "a = '\"\"\"'\nb = '''\nc = 2\n'''\nc = 2\n",
    "brackets and backslashes at column zero": "x = [\n1,\n]\ny = f(1,\n2)\nz = 1 + \\\n3\nw = 4\n",
    "semicolons and a trailing comment block": "a = 1; b = 2\n# one\n\n# two\nc = 3\n# end\n",
    "decorators over several lines": (
        "@deco(\n    1,\n)\n# between\n@other\n\nasync def f():\n    pass\n\n@d\nclass C: pass\n"
    ),
    "no final newline after a multiline string": 'a = 1\nb = """\nc = 2\n"""',
    "crlf": 'a = 1\r\n"""\r\nb = 2\r\n"""\r\ndef f():\r\n    return 1\r\n',
    "class body at its indent inside strings and a long header": '''class C(
    Base,
    metaclass=M,
):
    """Doc.

    x = 1
    """

    x = 1
    @property
    def p(self):
        return """
    def q(self):
    """

    def q(self):
        return [
    1]
    # footer
''',
}


def _spans(plan: ModulePlan) -> list[tuple[int, int, str]]:
    return [(c.start_byte, c.end_byte, c.name) for c in plan.chunks]


FOOLS_THE_GUESS = {"triple quote inside a plain string"}  # proven wrong, so the codegen fallback


@pytest.mark.parametrize("name", sorted(TRICKY))
def test_proven_spans_equal_the_codegen_spans(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    text = TRICKY[name]
    data = text.encode()
    record = Cutter._record_spans
    fallbacks: list[str] = []

    def spy(cutter: Cutter) -> None:
        fallbacks.append(name)
        record(cutter)

    monkeypatch.setattr(Cutter, "_record_spans", spy)
    for budget in (2000, 5):  # whole classes, then split ones
        plan = cut_module("m.py", text, budget)
        check_coverage(plan, len(data))
        with monkeypatch.context() as patch:  # every level goes to the codegen fallback
            patch.setattr(Cutter, "level", lambda *args: None)
            reference = cut_module("m.py", text, budget)
        assert _spans(plan) == _spans(reference)
        assert [c.text for c in plan.chunks] == [c.text for c in reference.chunks]
        assert plan.gaps == reference.gaps
    assert len(fallbacks) == 2 * (1 + (name in FOOLS_THE_GUESS))


def test_statements_holding_lines_at_their_indent_are_split_exactly() -> None:
    text = TRICKY["class body at its indent inside strings and a long header"]
    chunks = by_name(chunk_module("m.py", text, 5))
    assert list(chunks) == ["C.<statements 5-8>", "C.<statements 10-10>", "C.p", "C.q"]
    assert chunks["C.<statements 5-8>"].text == '"""Doc.\n\n    x = 1\n    """\n'
    assert (
        chunks["C.p"].text == '@property\ndef p(self):\n    return """\n    def q(self):\n    """\n'
    )
    assert chunks["C.q"].text == "def q(self):\n    return [\n1]\n"
    assert chunks["C.q"].context.class_header == "class C(\n    Base,\n    metaclass=M,\n):"


def test_carriage_return_newlines_are_lines() -> None:
    # libcst's code generator does not give this file back, so the codegen fallback could not cut it
    text = "a = 1\r'''\rb = 2\r'''\rdef f():\r    return 1\r"
    plan = cut_module("m.py", text)
    check_coverage(plan, len(text))
    assert [(c.name, c.text, c.newline) for c in plan.chunks] == [
        ("<statements 1-4>", "a = 1\n'''\nb = 2\n'''\n", "\r"),
        ("f", "def f():\n    return 1\n", "\r"),
    ]
    assert splice(text.encode(), [(c, c.text) for c in plan.chunks]) == text.encode()
