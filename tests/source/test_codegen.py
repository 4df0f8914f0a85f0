"""libcst's private code generator, the one private import in pipeline/ (pipeline/source/codegen.py):
these fail first if libcst moves or changes what codemill uses of it."""

from __future__ import annotations

import inspect
from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from pipeline.source.codegen import StartLineProvider, code_until, generate, record_spans

SOURCE = "import os\n\n\nclass A:\n    x = 1\n\n    def f(self):\n        return os.sep\n"


def test_libcst_still_has_the_private_names_codemill_uses() -> None:
    from libcst._nodes.internal import CodegenState  # the moved-or-renamed check

    state = CodegenState(default_indent="    ", default_newline="\n")
    assert callable(state.before_codegen) and callable(state.after_codegen)
    assert isinstance(state.tokens, list) and callable(state.increase_indent)
    assert callable(cst.Module([])._codegen)


def test_recorded_spans_are_each_statements_code() -> None:
    module = cst.parse_module(SOURCE)
    cls = module.body[1]
    assert isinstance(cls, cst.ClassDef) and isinstance(cls.body, cst.IndentedBlock)
    watched = [*module.body, *cls.body.body]
    code, spans = record_spans(module, {id(node) for node in watched})
    assert code == SOURCE
    texts = [code[slice(*spans[id(node)])].strip() for node in watched]
    whole_class = "class A:\n    x = 1\n\n    def f(self):\n        return os.sep"
    assert texts == ["import os", whole_class, "x = 1", "def f(self):\n        return os.sep"]


def test_a_node_alone_and_the_code_before_a_child() -> None:
    module = cst.parse_module(SOURCE)
    cls = module.body[1]
    assert isinstance(cls, cst.ClassDef) and isinstance(cls.body, cst.IndentedBlock)
    method = cls.body.body[1]
    assert generate(module, method, "    ") in SOURCE
    assert code_until(module, cls, cls.body) == "\n\nclass A:"


LINES_SOURCE = (
    "import os\r\n"
    "@decorator(\n    arg)\n"
    "# a comment\n"
    "async def f(a: int = (1 +\n    2)) -> str:\n"
    "    '''doc\n    string'''\n"
    "    x = [y\r for y in z]\n"
    "    match x:\n        case [1, *rest] if rest:\n            pass\n"
    "    return f'{a!r:>{width}}' \\\n        + 'tail'\n"
    "\n\nclass C(Base, metaclass=M):\n    @property\n    def g(self): ...\n"
)


@pytest.mark.parametrize(
    "source",
    [LINES_SOURCE, SOURCE, Path(inspect.__file__).read_text(encoding="utf-8")],
    ids=["mixed", "small", "stdlib-inspect"],
)
def test_start_lines_are_position_providers_start_lines(source: str) -> None:
    module = cst.parse_module(source)
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    exact = {node: span.start.line for node, span in wrapper.resolve(PositionProvider).items()}
    lines = wrapper.resolve(StartLineProvider)
    assert dict(lines) == exact
