"""Real git repositories for tests: make one from files, and fingerprint a checkout to prove it untouched."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

IDENTITY = ["-c", "user.name=Test", "-c", "user.email=test@example.invalid"]


def git(repo: Path, *args: str) -> str:
    """Run git in `repo`; its stdout, raising on failure."""
    done = subprocess.run(
        ["git", *IDENTITY, *args], cwd=repo, check=True, capture_output=True, text=True
    )
    return done.stdout


def make_repo(root: Path, files: Mapping[str, str | bytes], message: str = "initial") -> Path:
    """A new repository at `root` holding `files`, all committed on branch main."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return root


def copy_example(name: str, root: Path) -> Path:
    """A repository holding a copy of `examples/<name>`, committed."""
    source = Path(__file__).resolve().parents[2] / "examples" / name
    shutil.copytree(source, root, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return make_repo(root, {})


def fingerprint(repo: Path) -> dict[str, str]:
    """Hashes of every file of the checkout (untracked too, .git's index and HEAD), plus git status."""
    prints: dict[str, str] = {}
    for path in sorted(repo.rglob("*")):
        rel = path.relative_to(repo).as_posix()
        if path.is_file() and (not rel.startswith(".git/") or rel in (".git/index", ".git/HEAD")):
            prints[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    prints["<status>"] = git(repo, "status", "--porcelain", "--untracked-files=all")
    prints["<head>"] = git(repo, "rev-parse", "HEAD")
    return prints
