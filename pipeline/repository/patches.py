"""Whether a patch applies to a commit: `git apply --check` in a private index, never the user's."""

from __future__ import annotations

import tempfile
from pathlib import Path

import git

from pipeline.repository.commands import run_git
from pipeline.repository.errors import GitOpsError
from pipeline.repository.opening import resolve_base, work_dir


def apply_check(repo: git.Repo, base: str, patch_text: str) -> str | None:
    """None if `git apply --check` accepts the patch on base (in a temp index), else git's why."""
    base_sha = resolve_base(repo, base)
    with tempfile.TemporaryDirectory(prefix="codemill-apply-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        patch = Path(tmp) / "changes.patch"
        patch.write_bytes(patch_text.encode("utf-8", "surrogateescape"))
        run_git(work_dir(repo), "read-tree", base_sha, env=env)
        try:
            run_git(work_dir(repo), "apply", "--check", "--cached", str(patch), env=env)
        except GitOpsError as exc:
            return str(exc).removeprefix("git apply failed: ")
    return None
