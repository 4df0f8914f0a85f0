"""`codemill fleet` refuses bad input with one line and exit 2, before any server or repository is asked."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.cli_support import codemill, make_cli_env

pytestmark = pytest.mark.slow


def test_bad_fleet_file_and_missing_server_are_usage_errors(tmp_path: Path) -> None:
    cli = make_cli_env(tmp_path / "home", None)
    bad = tmp_path / "fleet.toml"
    bad.write_text(
        '[[repo]]\nurl = "https://h/a.git"\n\n[[repo]]\nurl = "https://h/b.git"\nmax-cost = "x"\n'
    )
    done = codemill(cli, "fleet", str(bad), "--recipe", "modernize", "--pool", "p", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == f"codemill: {bad}:6: max-cost='x' is not a number\n"

    good = tmp_path / "good.toml"
    good.write_text('[[repo]]\nurl = "https://h/a.git"\n')
    done = codemill(cli, "fleet", str(good), "--recipe", "modernize", "--pool", "p", cwd=tmp_path)
    assert done.returncode == 2 and "codemill fleet needs a Prefect server" in done.stderr
    assert done.stderr.count("\n") == 1
    done = codemill(cli, "fleet", str(good), "--recipe", "nope", "--pool", "p", cwd=tmp_path)
    assert done.returncode == 2 and "nope" in done.stderr and done.stderr.count("\n") == 1
