"""Broken answers never pass: one `codemill run` per broken-answer class over real stdlib modules.

The fake model answers every chunk of a repository of real standard-library modules in one bad way
(`support.fake_model_server.BROKEN_ANSWERS`); each must-reject class leaves an empty patch with its
reason in the ledger, the think-block draft ends unchanged, and an identity answer over files with
CRLF, mixed endings, a BOM, tabs, form feeds and no final newline changes no byte, through both engines;
a real change of such files (a model answering in LF and spaces, or the codemods) keeps their layout, and a
file that would crash libcst's parser is skipped while the run goes on.
"""

from __future__ import annotations

import inspect
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from support.cli_support import LLM, CliEnv, codemill, make_cli_env
from support.fake_model_server import FakeModelServer, FakeReply, broken_answer_handler
from support.gitrepo import make_repo

KEY = "sk-test-answers-0123456789"
MODULES = ("textwrap", "colorsys", "fractions")

MUST_REJECT = {
    "syntax-error": ("docstrings", "syntax"),
    "definition-removed": ("docstrings", "definition-removed"),
    "elided-body": ("docstrings", "lazy"),
    "truncated": ("docstrings", "cut-off"),
    "prose-only": ("docstrings", "no-code"),
    "think-only": ("docstrings", "think-only"),
    "renamed-parameter": ("docstrings", "signature-changed"),
    "async-def": ("docstrings", "signature-changed"),
    "dropped-decorator": ("docstrings", "signature-changed"),
    "new-helper": ("docstrings", "new-name"),
    "two-blocks": ("docstrings", "several-blocks"),
    "undefined-name": ("docstrings", "undefined-name"),
    "tabs": ("docstrings", "indentation-changed"),
    "type-statement": ("docstrings", "target-syntax"),
}
OUT_OF_SCOPE = {  # recipe -> the broken answer: a test class's body may hold new names, so edit a method
    "docstrings": "out-of-scope",
    "type-hints": "out-of-scope",
    "modernize": "out-of-scope",
    "simplify": "out-of-scope",
    "unittest-to-pytest": "out-of-scope-in-a-method",
}


@pytest.fixture
def cli(tmp_path: Path) -> CliEnv:
    """No Prefect API: these runs prove answers, not orchestration, so they run local (seconds cheaper)."""
    return make_cli_env(tmp_path / "home", None)


@pytest.fixture
def stdlib_repo(tmp_path: Path) -> Path:
    """A git repository of a few real standard-library modules, plus a small unittest module."""
    root = tmp_path / "repo"
    root.mkdir()
    for name in MODULES:
        shutil.copy(Path(inspect.getfile(__import__(name))), root / f"{name}.py")
    tests = """import unittest


class WrapTest(unittest.TestCase):
    def test_wrap(self):
        self.assertEqual(len("ab"), 2)

    def test_true(self):
        self.assertTrue(True)
"""
    return make_repo(root, {"test_wrap.py": tests})


def run(
    cli: CliEnv, repo: Path, server: FakeModelServer, recipe: str, engine: str = "llm"
) -> tuple[list[dict[str, Any]], str]:
    """A dry run against the fake model: the ledger's chunk rows and the patch's text."""
    done = codemill(
        cli, "run", ".", "--recipe", recipe, "--dry-run", "--engine", engine, "--base-url", server.base_url,
        "--target-python", "3.11", "--no-progress", cwd=repo, extra_env={"AIMLAPI_API_KEY": KEY, **LLM},
    )  # fmt: skip
    match = re.search(r"^codemill: report (.+)$", done.stdout, re.MULTILINE)
    assert match, done.stdout + done.stderr
    report = Path(match.group(1))
    lines = (report / "ledger.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [r for r in map(json.loads, lines) if r["record"] == "row"]
    patch = report / "changes.patch"
    return rows, patch.read_text() if patch.exists() else ""


@pytest.mark.slow
@pytest.mark.parametrize("mode", sorted(MUST_REJECT))
def test_a_broken_answer_class_leaves_an_empty_patch(
    mode: str, cli: CliEnv, stdlib_repo: Path
) -> None:
    recipe, reason = MUST_REJECT[mode]
    with FakeModelServer(broken_answer_handler(mode)) as server:
        rows, patch = run(cli, stdlib_repo, server, recipe)
    assert patch.strip() == ""
    assert not [r for r in rows if r["status"] == "accepted"]
    assert reason in {r["reason"] for r in rows}, {r["reason"] for r in rows}


@pytest.mark.slow
def test_a_broken_draft_in_the_think_block_is_not_the_answer(
    cli: CliEnv, stdlib_repo: Path
) -> None:
    with FakeModelServer(broken_answer_handler("think-draft")) as server:
        rows, patch = run(cli, stdlib_repo, server, "docstrings")
    sent = [r for r in rows if r["reason"] != "not-selected"]
    assert sent and all(r["status"] == "unchanged" for r in sent)
    assert patch.strip() == ""


@pytest.mark.slow
@pytest.mark.parametrize("recipe", sorted(OUT_OF_SCOPE))
def test_an_answer_outside_the_recipe_s_scope_is_rejected(
    recipe: str, cli: CliEnv, stdlib_repo: Path
) -> None:
    with FakeModelServer(broken_answer_handler(OUT_OF_SCOPE[recipe])) as server:
        rows, patch = run(cli, stdlib_repo, server, recipe)
    assert patch.strip() == ""
    assert not [r for r in rows if r["status"] == "accepted"]
    assert "out-of-scope" in {r["reason"] for r in rows}


AWKWARD = {
    "crlf.py": b'def f(x):\r\n    """%s."""\r\n    return "%s" % x\r\n',
    "mixed.py": b'def g(x):\n    return "%s" % x\r\n\r\n\r\nY = "{}".format(1)\n',
    "bom.py": b'\xef\xbb\xbf# -*- coding: utf-8 -*-\ndef h(x):\n    return "%d" % x\n',
    "tabs.py": b'class T(object):\n\tdef m(self, x):\n\t\t"""Doc\n\t\tmore."""\n\t\treturn "%s" % x\n',
    "feed.py": b'def a():\n    return "%s" % 1\n\x0c\n\ndef b():\n    return 2\n',
    "nofinal.py": b'def c(x):\n    return "%s" % x',
}


IDENTITY_RECIPE = """---
name: identity
description: Change nothing, through the codemod engine.
scope: any
codemods: [libcst.codemod.commands.noop.NOOPCommand]
---
## System
s
## User
$chunk
"""


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["llm", "codemod"])
def test_an_identity_answer_changes_no_byte(engine: str, cli: CliEnv, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "awkward", AWKWARD)
    recipe = tmp_path / "identity.md"
    recipe.write_text(IDENTITY_RECIPE, encoding="utf-8")
    with FakeModelServer() as server:  # the echo handler: every chunk answered as it was
        rows, patch = run(cli, repo, server, str(recipe), engine)
    assert {r["path"] for r in rows} >= set(AWKWARD)
    assert rows and all(r["status"] == "unchanged" for r in rows), rows
    assert patch == ""


DEEP = 'X = "%s" % ' + "(" * 2000 + "1" + ")" * 2000 + "\n"  # CPython refuses it; libcst segfaults


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["llm", "codemod"])
def test_a_file_that_would_crash_the_parser_is_skipped_and_the_run_goes_on(
    engine: str, cli: CliEnv, tmp_path: Path
) -> None:
    repo = make_repo(
        tmp_path / "deep", {"deep.py": DEEP, "fine.py": 'def f(x):\n    return "%s" % x\n'}
    )
    with FakeModelServer() as server:  # the echo handler: the run itself is what is proven here
        rows, _ = run(cli, repo, server, "modernize", engine)
    deep = [r for r in rows if r["path"] == "deep.py"]
    assert [(r["status"], r["reason"]) for r in deep] == [("skipped", "parse-error")], deep
    assert "nested" in deep[0]["detail"]
    assert [r for r in rows if r["path"] == "fine.py" and r["status"] != "skipped"], rows


LAYOUTS = {  # each file's first chunk holds a %-format: the change lands, the file's layout stays
    "crlf.py": b'def f(x):\r\n    """Doc."""\r\n    return "%s" % x\r\n',
    "mixed.py": b'def g(x):\n    x = x\r\n    return "%s" % x\r\n\r\n\r\nZ = 1\n',
    "bom.py": b'\xef\xbb\xbf# -*- coding: utf-8 -*-\ndef h(x):\n    return "%s" % x\n',
    "tabs.py": b'class T:\n\tdef m(self, x):\n\t\tif x:\n\t\t\treturn "%s" % x\n\t\treturn ""\n',
    "nofinal.py": b'def c(x):\n    return "%s" % x',
}


def spaces_and_fstrings(body: dict[str, Any], headers: dict[str, str]) -> FakeReply:
    """A good model that writes LF and four spaces whatever the file uses."""
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    code = re.findall(r"```python\n(.*?)```", user, re.DOTALL)[-1]
    code = re.sub(r"^\t+", lambda m: "    " * len(m.group(0)), code, flags=re.M)
    code = code.replace('"%s" % x', 'f"{x}"')
    return FakeReply.completion(f"```python\n{code}```")


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["llm", "codemod"])
def test_a_changed_file_keeps_its_bom_line_endings_indentation_and_final_newline(
    engine: str, cli: CliEnv, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "layouts", LAYOUTS)
    with FakeModelServer(spaces_and_fstrings) as server:
        done = codemill(
            cli, "run", ".", "--recipe", "modernize", "--engine", engine, "--branch", "cm/layout",
            "--base-url", server.base_url, "--target-python", "3.11", "--no-progress", cwd=repo,
            extra_env={"AIMLAPI_API_KEY": KEY, **LLM},
        )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    for name, before in LAYOUTS.items():
        shown = ["git", "show", f"cm/layout:{name}"]
        after = subprocess.run(shown, cwd=repo, capture_output=True, check=True).stdout
        expected = before.replace(b'"%s" % x', b'f"{x}"')
        if engine == "codemod":  # modernize's ruff:UP drops the needless coding line (UP009)
            expected = expected.replace(b"# -*- coding: utf-8 -*-\n", b"")
        assert after == expected, name
