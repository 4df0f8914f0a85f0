"""What the publish tests share: a repository with changes the codemod engine makes, its dry run, a fake
forge holding its remote, and the `codemill` command in-process with the forge's token set."""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from pathlib import Path

from support.fake_forge import FakeForge
from support.gitrepo import git, make_repo
from typer.testing import CliRunner, Result

from flows.cli import app

TOKEN = "ghp_fakeFORGEtoken0123456789SECRET"
FAST = ("--forge-write-interval", "0.05")  # the tests' own write interval: 1 s is the default


def module(name: str) -> str:
    """A module the modernize codemods change (one class with an `object` base)."""
    return f"class {name.title()}(object):\n    pass\n"


def make_project(root: Path, files: Mapping[str, str]) -> Path:
    return make_repo(root, dict(files))


def dry_run(runner: CliRunner, repo: Path) -> Path:
    """`codemill run --dry-run` with the codemod engine; its report directory."""
    done = runner.invoke(
        app, ["run", "--dry-run", "--orchestrator", "local", "--no-progress", str(repo)]
    )
    assert done.exit_code == 0, done.output
    match = re.search(r"^codemill: report (.+)$", done.output, re.MULTILINE)
    assert match, done.output
    return Path(match.group(1))


def with_remote(forge: FakeForge, repo: Path, path: str, *, kind: str = "github",
                users: tuple[str, ...] = ()) -> Path:  # fmt: skip
    """The fake forge's bare repository `path`, seeded from `repo` and made its `origin`."""
    remote = forge.add_repo(path, kind=kind, seed=repo, users=users)
    git(repo, "remote", "add", "origin", str(remote))
    return remote


def publish(runner: CliRunner, forge: FakeForge, run_dir: Path, repo: Path, *args: str,
            kind: str = "github") -> Result:  # fmt: skip
    url = forge.github_url if kind == "github" else forge.gitlab_url
    command = ["publish", str(run_dir), "--repo", str(repo), "--forge", kind, "--forge-url", url]
    command += [*FAST, *args]
    return runner.invoke(app, command)


def same_run_in(
    runner: CliRunner, forge: FakeForge, root: Path, count: int
) -> tuple[Path, list[Path]]:
    """`count` repositories at one commit, each with its own remote on the forge (`octo/r<n>`), and
    the one dry run that holds for each of them (a fleet's members, cheaply)."""
    first = make_repo(root / "r0", {"a.py": module("a")})
    run_dir, repos = dry_run(runner, first), [first]
    for number in range(1, count):
        repos.append(root / f"r{number}")
        git(root, "clone", "-q", str(first), str(repos[-1]))
        git(repos[-1], "remote", "remove", "origin")
    for number, repo in enumerate(repos):
        with_remote(forge, repo, f"octo/r{number}")
    return run_dir, repos


def least_gap(forge: FakeForge) -> float:
    """The shortest time between two writes the forge received."""
    times = sorted(w.at for w in forge.writes())
    return min(b - a for a, b in itertools.pairwise(times))
