"""The fleet file: repositories and settings read and checked up front; a bad entry refused with its line."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.gitrepo import make_repo

from pipeline.fleet.fleetfile import FleetFileError, load_fleet


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fleet.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_merge_under_each_entry_and_sources_are_kept(tmp_path: Path) -> None:
    make_repo(tmp_path / "lib", {"a.py": "x = 1\n"})
    bare = tmp_path / "app.git"
    bare.mkdir()
    path = write(
        tmp_path,
        'push = "origin"\nconcurrency = 4\n\n'
        '[[repo]]\nurl = "https://git.example.com/platform/billing.git"\npaths = ["src/"]\n'
        'base = "main"\nshards = 3\n\n'
        '[[repo]]\npath = "lib"\nconcurrency = 8\ntest-cmd = "python -m pytest -q"\n\n'
        f'[[repo]]\nurl = "{bare.as_uri()}"\nname = "app"\n\n'
        '[[repo]]\nurl = "git@github.com:acme/tools.git"\n',
    )
    fleet = load_fleet(path)
    billing, lib, app, tools = fleet.entries
    assert billing.name == "billing" and billing.paths == ("src",) and billing.shards == 3
    assert billing.settings == {"push": "origin", "concurrency": 4, "base": "main"}
    assert lib.source == str((tmp_path / "lib").resolve())
    assert lib.settings == {"push": "origin", "concurrency": 8, "test_cmd": "python -m pytest -q"}
    assert app.name == "app" and app.source == bare.as_uri()
    assert tools.name == "tools" and tools.line == 19
    assert len({e.key for e in fleet.entries}) == 4


@pytest.mark.parametrize(
    ("body", "line", "says"),
    [
        (
            '[[repo]]\nurl = "https://h/a.git"\n\n[[repo]]\nurl = "https://h/b.git"\nmax-cost = "lots"\n',
            6,
            "max-cost='lots' is not a number",
        ),
        (
            'concurrency = 4\nfrobnicate = true\n[[repo]]\nurl = "https://h/a.git"\n',
            2,
            "'frobnicate' is not a codemill setting",
        ),
        ('[[repo]]\nurl = "https://h/a.git"\n[[repo]]\nname = "x"\n', 3, "exactly one of url"),
        ('[[repo]]\nurl = "https://bob:hunter2@h/a.git"\n', 2, "holds a password"),
        ('[[repo]]\nurl = "ftp://h/a.git"\n', 2, "is not a clone URL"),
        ('[[repo]]\npath = "nowhere"\n', 2, "does not exist"),
        ('[[repo]]\nurl = "https://h/a.git"\npaths = ["../up"]\n', 3, "not a plain path"),
        ('[[repo]]\nurl = "https://h/a.git"\nshards = 0\n', 3, "at least 1"),
        (
            '[[repo]]\nurl = "https://h/a.git"\n\n[[repo]]\nurl = "https://x/a.git"\n',
            4,
            "a second repository named 'a' (the first is at line 1)",
        ),
        (
            '[[repo]]\nurl = "https://h/a.git"\nreport-dir = "/tmp/x"\n',
            3,
            "decided on each machine",
        ),
        ('[settings]\nx = 1\n[[repo]]\nurl = "https://h/a.git"\n', 1, "unknown table [settings]"),
        (
            'base = """\n[[repo]]\nmax_cost = "no"\n"""\n[[repo]]\nurl = "https://h/a.git"\n'
            "target-python = 3.10\n",
            7,
            "write the version in quotes",
        ),
        ('push = "origin"\n', 1, "no repositories"),
    ],
)
def test_bad_entries_are_refused_with_their_line(
    tmp_path: Path, body: str, line: int, says: str
) -> None:
    path = write(tmp_path, body)
    with pytest.raises(FleetFileError) as caught:
        load_fleet(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert says in message
    assert "\n" not in message


def test_broken_toml_says_where(tmp_path: Path) -> None:
    path = write(tmp_path, '[[repo]]\nurl = "https://h/a.git\n')
    with pytest.raises(FleetFileError, match=r"not valid TOML: .*line 2"):
        load_fleet(path)
