"""A dry run, then `report` and `apply` on its report, all in-process (Typer's CliRunner, the local
orchestrator): and the proof that the applied branch is the run's changes.patch, byte for byte.

The file shapes replay must survive (classes over the budget, merged headers, decorators, nested classes,
CRLF, BOM, tabs, mixed newlines, a coding cookie, no final newline) are here too, each with something the
`modernize` codemods change, so both engines have work on every shape.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sysconfig
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from flows.cli import app
from pipeline.report.patch import unified_patch
from support.fake_model_server import FakeReply
from support.gitrepo import IDENTITY, fingerprint, git

KEY = "sk-test-replay-SECRET"
STDLIB = Path(sysconfig.get_paths()["stdlib"])
ALL_KINDS = "function, class, method, statements"
MARK = "# replayed\n"


def methods(cls: str, count: int, indent: str = "    ", nl: str = "\n") -> str:
    """`count` methods that call `super(cls, self)`: a class body well over a small budget."""
    return "".join(
        f"{indent}def m{i}(self, x):{nl}{indent * 2}y = super({cls}, self).m{i}(x){nl}"
        f"{indent * 2}return y + {i}{nl}{nl}"
        for i in range(count)
    )


_PARSER = (
    "class parser(object):\n    '''Parses things.'''\n\n    depth = 0\n    width = 1\n\n"
    "    def __init__(self):\n        super(parser, self).__init__()\n\n" + methods("parser", 12)
)

SHAPES: dict[str, str | bytes] = {
    "shapes/over_budget.py": _PARSER,
    "shapes/merged_header.py": (
        "import functools\nfrom typing import List, Optional\n\n\n"
        "def first(x: Optional[int]) -> List[int]:\n    return [x or 0]\n\n\n"
        "@functools.total_ordering\nclass Item(object):\n    size = 1\n\n" + methods("Item", 10)
    ),
    "shapes/decorated.py": (
        "import functools\n\n\nclass Cached(object):\n"
        + "".join(
            f"    @functools.lru_cache(maxsize=None)\n    @staticmethod\n    def s{i}(x):\n"
            f"        return x + {i}\n\n"
            for i in range(8)
        )
        + "    @property\n    def p(self):\n        return super(Cached, self).p\n"
    ),
    "shapes/nested.py": (
        "class Outer(object):\n    class Meta(object):\n        ordering = ['x']\n\n"
        "        def inner(self):\n            return super(Outer.Meta, self).inner()\n\n"
        + methods("Outer", 10)
    ),
    "shapes/crlf.py": _PARSER.replace("\n", "\r\n").encode(),
    "shapes/bom.py": b"\xef\xbb\xbf" + ("# \u00e9t\u00e9\n" + _PARSER).encode(),
    "shapes/tabs.py": (
        "class Tabbed(object):\n\tvalue = 1\n\n" + methods("Tabbed", 10, indent="\t")
    ),
    "shapes/mixed.py": (
        b"from typing import Optional\r\n\r\n\r\ndef f(x: Optional[int]):\n    return x\r\n\n\n"
        b"class Old(object):\r\n    pass\n"
    ),
    "shapes/latin1.py": (
        "# -*- coding: latin-1 -*-\n# caf\u00e9\nclass Caf\u00e9(object):\n"
        "    name = 'caf\u00e9'\n\n" + methods("Caf\u00e9", 10)
    ).encode("latin-1"),
    "shapes/no_final_newline.py": "class Last(object):\n    def f(self):\n        return 1",
}


def stdlib_sample(count: int, offset: int = 0) -> dict[str, bytes]:
    """`count` real standard-library modules of 2-12 KB, spread over the packages (never tests)."""
    found = sorted(
        p
        for p in STDLIB.rglob("*.py")
        if not {"site-packages", "test", "tests", "idle_test", "lib2to3"} & set(p.parts)
        and 2_000 <= p.stat().st_size <= 12_000
    )
    step = max(1, len(found) // count)
    picked = found[offset::step][:count]
    return {f"lib/{p.relative_to(STDLIB).as_posix()}": p.read_bytes() for p in picked}


def answer_marked(body: dict[str, Any], headers: dict[str, str]) -> FakeReply:
    """The model's answer: the chunk with a comment line put first (a change on every chunk). A class
    attribute `depth = 0` first comes back as one that passes the per-chunk proof but fails the import,
    and is mended in the gate turn that follows (so its row is amended after the gate)."""
    messages = body["messages"]
    chunk = re.findall(r"```python\n(.*?)```", messages[1]["content"], re.DOTALL)[-1]
    if len(messages) == 2:
        chunk = chunk.replace("depth = 0", 'depth = int("zero")')
    return FakeReply.completion(f"```python\n{MARK}{chunk}```")


def invoke(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(app, list(args))


def dry_run(runner: CliRunner, repo: Path, *args: str) -> Path:
    """A dry run's report directory (the run must exit 0)."""
    done = invoke(
        runner, "run", *args, "--dry-run", "--orchestrator", "local", "--no-progress", str(repo)
    )
    assert done.exit_code == 0, done.output
    match = re.search(r"^codemill: report (.+)$", done.output, re.MULTILINE)
    assert match, done.output
    return Path(match.group(1))


def blob(repo: Path, rev: str, path: str) -> bytes:
    return subprocess.run(
        ["git", "cat-file", "blob", f"{rev}:{path}"], cwd=repo, check=True, capture_output=True
    ).stdout


def branch_patch(repo: Path, base: str, branch: str) -> bytes:
    """The branch's diff from the base, written as codemill writes changes.patch."""
    names = git(repo, "diff", "--name-only", "-z", base, branch).split("\0")
    changes = {n: (blob(repo, base, n), blob(repo, branch, n)) for n in names if n}
    return unified_patch(changes).encode("utf-8", "surrogateescape")


def patched_tree(repo: Path, base: str, patch: Path, scratch: Path) -> str:
    """The tree git itself makes of the base with `patch` applied (in a scratch index)."""
    env = {**os.environ, "GIT_INDEX_FILE": str(scratch / "replay-index")}
    for args in (["read-tree", base], ["apply", "--cached", str(patch)]):
        subprocess.run(
            ["git", *IDENTITY, *args], cwd=repo, env=env, check=True, capture_output=True
        )
    return subprocess.run(
        ["git", "write-tree"], cwd=repo, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


def assert_replays(runner: CliRunner, repo: Path, report: Path, branch: str) -> int:
    """`report` writes the run's changes.patch and ledger again, the same bytes, and `apply` commits
    exactly that patch; the number of files it changed."""
    patch, ledger = (report / "changes.patch").read_bytes(), (report / "ledger.jsonl").read_bytes()
    base = json.loads((report / "ledger.jsonl").read_text().splitlines()[0])["base_commit"]
    checkout = fingerprint(repo)
    again = invoke(runner, "report", str(report), "--repo", str(repo))
    assert again.exit_code == 0, again.output
    assert (report / "changes.patch").read_bytes() == patch
    assert (report / "ledger.jsonl").read_bytes() == ledger  # read back and written again: the same
    applied = invoke(runner, "apply", str(report), "--repo", str(repo), "--branch", branch)
    assert applied.exit_code == 0, applied.output
    assert fingerprint(repo) == checkout
    if not patch:
        assert "no branch made" in applied.output
        return 0
    assert branch_patch(repo, base, branch) == patch
    tip_tree = git(repo, "rev-parse", f"{branch}^{{tree}}").strip()
    assert patched_tree(repo, base, report / "changes.patch", report.parent) == tip_tree
    return patch.count(b"\ndiff --git ") + 1
