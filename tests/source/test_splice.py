"""splice: replacements go back re-indented, in the file's newline and encoding; other bytes stay."""

from __future__ import annotations

import dataclasses

import pytest

from pipeline.source.chunking import Chunk, chunk_module, cut_module
from pipeline.source.layout import dedent, reindent
from pipeline.source.splicing import splice


def methods(indent: str = "    ", count: int = 12) -> str:
    return "".join(
        f"{indent}def m{i}(self, value):\n{indent}{indent}return value + {i}\n\n"
        for i in range(count)
    )


def split(text: str, budget: int = 30, **kw: object) -> dict[str, Chunk]:
    return {c.name: c for c in chunk_module("m.py", text, budget, **kw)}  # type: ignore[arg-type]


def roundtrip(data: bytes, text: str, **kw: object) -> bytes:
    plan = cut_module("m.py", text, 30, **kw)  # type: ignore[arg-type]
    return splice(data, [(c, c.text) for c in plan.chunks])


def test_changed_method_is_reindented_and_nothing_else_moves() -> None:
    text = f"class C:\n{methods()}"
    data = text.encode()
    m3 = split(text)["C.m3"]
    assert m3.text == "def m3(self, value):\n    return value + 3\n"
    new = "def m3(self, value: int) -> int:\n    total = value + 3\n    return total\n"
    out = splice(data, [(m3, new)])
    expected = text.replace(
        "    def m3(self, value):\n        return value + 3\n",
        "    def m3(self, value: int) -> int:\n        total = value + 3\n        return total\n",
    )
    assert out.decode() == expected
    assert out[: m3.start_byte] == data[: m3.start_byte]
    assert out[m3.start_byte + len(new) + 12 :] == data[m3.end_byte :]


def test_crlf_file_stays_crlf() -> None:
    text = f"class C:\n{methods()}".replace("\n", "\r\n")
    data = text.encode()
    assert roundtrip(data, text) == data
    m1 = split(text)["C.m1"]
    assert m1.newline == "\r\n" and "\r" not in m1.text
    out = splice(data, [(m1, "def m1(self, value):\n    return value * 2\n")])
    assert b"    def m1(self, value):\r\n        return value * 2\r\n" in out
    assert out.count(b"\n") == out.count(b"\r\n")


def test_bom_stays() -> None:
    text = f"class C:\n{methods()}"
    data = b"\xef\xbb\xbf" + text.encode()
    assert roundtrip(data, text, bom=True) == data
    m0 = split(text, bom=True)["C.m0"]
    out = splice(data, [(m0, "def m0(self, value):\n    return 0\n")])
    assert out.startswith(b"\xef\xbb\xbfclass C:\n    def m0(self, value):\n        return 0\n")


def test_tabs_stay_tabs() -> None:
    text = f"class C:\n{methods(indent=chr(9))}"
    data = text.encode()
    assert roundtrip(data, text) == data
    m2 = split(text)["C.m2"]
    out = splice(data, [(m2, "def m2(self, value):\n\tif value:\n\t\treturn 2\n")])
    assert b"\tdef m2(self, value):\n\t\tif value:\n\t\t\treturn 2\n" in out


def test_missing_final_newline_stays_missing() -> None:
    text = f"class C:\n{methods()}".rstrip("\n")
    data = text.encode()
    assert roundtrip(data, text) == data
    last = split(text)["C.m11"]
    assert not last.text.endswith("\n")
    out = splice(data, [(last, "def m11(self, value):\n    return 11\n")])
    assert out.endswith(b"        return 11")


def test_replacement_without_final_newline_gets_one() -> None:
    text = f"class C:\n{methods()}"
    m4 = split(text)["C.m4"]
    out = splice(text.encode(), [(m4, "def m4(self, value):\n    return 4")])
    assert b"        return 4\n\n    def m5" in out


def test_multiline_strings_keep_their_content() -> None:
    body = (
        "    def doc(self):\n"
        '        """Docstring.\n'
        "\n"
        "        Indented text that must not move.\n"
        '        """\n'
        "        sql = '''\n"
        "SELECT *\n"
        "    FROM t\n"
        "'''\n"
        "        esc = 'a\\\n"
        "  b'\n"
        "        return sql, esc\n"
    )
    text = f"class C:\n{methods()}{body}"
    data = text.encode()
    assert roundtrip(data, text) == data
    doc = split(text)["C.doc"]
    assert "\nSELECT *\n    FROM t\n'''\n" in doc.text  # string lines untouched by dedent
    assert "\n  b'\n" in doc.text
    changed = doc.text.replace("return sql, esc", "return (sql, esc)")
    out = splice(data, [(doc, changed)]).decode()
    assert "        sql = '''\nSELECT *\n    FROM t\n'''\n" in out
    assert "        esc = 'a\\\n  b'\n        return (sql, esc)\n" in out


def test_whitespace_only_lines_are_left_alone() -> None:
    text = (
        f"class C:\n{methods()}    def ws(self):\n        x = 1\n        \n  \n        return x\n"
    )
    data = text.encode()
    assert roundtrip(data, text) == data
    ws = split(text)["C.ws"]
    assert ws.text == "def ws(self):\n    x = 1\n        \n  \n    return x\n"


def test_latin1_file_is_written_back_in_latin1() -> None:
    header = "# -*- coding: latin-1 -*-\n"
    text = header + "class C:\n" + methods() + "    def s(self):\n        return 'café'\n"
    data = text.encode("latin-1")
    assert roundtrip(data, text, encoding="iso-8859-1") == data
    s = split(text, encoding="iso-8859-1")["C.s"]
    out = splice(data, [(s, "def s(self):\n    return 'crème'\n")])
    assert out.endswith("        return 'crème'\n".encode("latin-1"))
    with pytest.raises(ValueError, match="cannot be written in iso-8859-1"):
        splice(data, [(s, "def s(self):\n    return '€uro ☃'\n")])


def test_crlf_replacement_from_the_model_is_normalised() -> None:
    text = f"class C:\n{methods()}"
    m0 = split(text)["C.m0"]
    out = splice(text.encode(), [(m0, "def m0(self, value):\r\n    return 0\r\n")])
    assert b"\r" not in out


def test_overlapping_or_foreign_replacements_are_errors() -> None:
    text = f"class C:\n{methods()}"
    data = text.encode()
    chunks = split(text)
    m1 = chunks["C.m1"]
    wider = dataclasses.replace(m1, name="wider", end_byte=chunks["C.m2"].end_byte)
    with pytest.raises(ValueError, match="overlaps"):
        splice(data, [(m1, m1.text), (wider, m1.text)])
    with pytest.raises(ValueError, match="overlaps"):
        splice(data, [(m1, m1.text), (m1, m1.text)])
    with pytest.raises(ValueError, match="outside a"):
        splice(data[:10], [(m1, m1.text)])


def test_several_replacements_in_any_order() -> None:
    text = f"class C:\n{methods()}"
    chunks = split(text)
    pairs = [(chunks[n], chunks[n].text.replace("value +", "value -")) for n in ("C.m7", "C.m2")]
    out = splice(text.encode(), pairs).decode()
    assert out == text.replace("value + 7", "value - 7").replace("value + 2", "value - 2")


def test_dedent_and_reindent_are_inverse() -> None:
    original = "    def f():\n        s = '''\nraw\n'''\n\n        return s\n"
    flat = dedent(original, "    ")
    assert flat == "def f():\n    s = '''\nraw\n'''\n\n    return s\n"
    assert reindent(flat, "    ") == original
    assert dedent("    x = (\n1)\n", "    ") is None  # a continuation line less indented: lossy


def test_mixed_newlines_round_trip_and_keep_members_whole() -> None:
    text = f"class C:\n{methods()}".replace("m3(self, value):\n", "m3(self, value):\r\n")
    text += "\r\n\r\ndef f():\n    return 1\r\n"
    data = text.encode()
    assert roundtrip(data, text) == data
    chunks = split(text)
    assert chunks["C"].kind == "class" and chunks["C"].newline == ""
    assert chunks["f"].newline == ""  # "\n" and "\r\n" inside it: the original's, line by line
    out = splice(data, [(chunks["f"], "def f():\r\n    return 2\n")])
    assert out.endswith(b"def f():\n    return 2\r\n")
    out = splice(data, [(chunks["f"], "def f():\n    x = 2\n    return x\n")])
    assert out.endswith(b"def f():\n    x = 2\n    return x\n")  # the dominant one (a tie: "\n")


def test_comment_at_column_zero_inside_a_statements_run_keeps_the_class_whole() -> None:
    text = f"class C:\n    A = 1\n# column zero\n    B = 2\n{methods()}"
    data = text.encode()
    assert roundtrip(data, text) == data
    assert [c.name for c in chunk_module("m.py", text, 30)] == ["C"]
