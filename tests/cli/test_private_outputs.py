"""Every file a real run writes is 0600 and every directory it creates 0700, whatever the umask:
reports hold the repository's new code, the cache holds the model's answers (issue 9)."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.cli_support import LLM, CliEnv, codemill, make_cli_env
from support.fake_model_server import FakeModelServer, FakeReply
from support.gitrepo import make_repo

KEY = "sk-test-private-outputs"
SOURCE = 'def hello(name):\n    return "Hello, %s!" % name\n'


def modernizing(body: dict[str, Any], headers: dict[str, str]) -> FakeReply:
    return FakeReply.completion('```python\ndef hello(name):\n    return f"Hello, {name}!"\n```')


@pytest.fixture
def wide_umask() -> Iterator[None]:
    """The umask most users have: without care, files come out 0644 and directories 0755."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def modes(root: Path) -> dict[str, int]:
    """Permission bits of `root` and everything under it, by path relative to root's parent."""
    found = {root.name: stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root.parent))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def test_a_real_run_writes_only_private_files_and_directories(
    tmp_path: Path, prefect_api: str, wide_umask: None
) -> None:
    cli: CliEnv = make_cli_env(tmp_path / "home", prefect_api)
    repo = make_repo(tmp_path / "repo", {"hello.py": SOURCE})
    with FakeModelServer(handler=modernizing) as server:
        done = codemill(
            cli,
            *("run", ".", "--recipe", "modernize", "--base-url", server.base_url),
            *("--branch", "cm/private", "--junit", str(tmp_path / "ci" / "out" / "junit.xml")),
            cwd=repo,
            extra_env={"AIMLAPI_API_KEY": KEY, **LLM},
        )
    assert done.returncode == 0, done.stderr
    report = Path(re.search(r"^codemill: report (.+)$", done.stdout, re.M).group(1))  # type: ignore[union-attr]

    written = {p.name for p in report.iterdir()}
    assert {"ledger.jsonl", "changes.patch", "summary.md", "junit.xml", "report.html"} <= written
    assert list((cli.state_dir / "repos").rglob("modernize.json")), "no state file was saved"
    assert (cli.cache_dir / "codemill" / "responses.sqlite3").is_file()
    everything = {
        **modes(cli.state_dir),
        **modes(cli.cache_dir),
        **modes(tmp_path / "ci"),
    }
    wrong = {
        path: oct(mode)
        for path, mode in everything.items()
        if mode != (0o700 if (cli.home / path).is_dir() or (tmp_path / path).is_dir() else 0o600)
    }
    assert wrong == {}
    assert len(everything) > 15
