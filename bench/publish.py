"""Publishing's cost against the loopback fake forge (tests/support/fake_forge.py): where one publish's
time goes, what publishing the same run again costs, and how the write limit bounds a split run.

  one       a dry run of N modules (one `class X(object)` each) published as one pull request: wall time,
            the forge's requests and writes; then published again (nothing to push or write)
  split     the same run split by directory into D pull requests under the default limit (1 s between
            writes): wall time against the (writes - 1) seconds the limit allows at best, the least gap

    python bench/publish.py [--files 200] [--dirs 10] [--commit-per file|run]
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.fake_forge import FakeForge  # noqa: E402

TOKEN = "ghp_bench"


def git(cwd: Path, *args: str) -> str:
    ident = ["-c", "user.name=b", "-c", "user.email=b@example.invalid"]
    return subprocess.run(
        ["git", *ident, *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def codemill(cwd: Path, env: dict[str, str], *args: str) -> tuple[float, str]:
    started = time.monotonic()
    command = [sys.executable, "-c", "from flows.cli import main; main()", *args]
    done = subprocess.run(command, cwd=cwd, env=env, text=True, capture_output=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"codemill {args[0]} failed: {done.stderr}")
    return time.monotonic() - started, done.stdout + done.stderr


def project(root: Path, files: int, dirs: int) -> Path:
    for n in range(files):
        path = root / f"d{n % dirs}" / f"m{n}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"class C{n}(object):\n    pass\n", encoding="utf-8")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "bench")
    return root


def measure(work: Path, files: int, dirs: int, commit_per: str) -> None:
    env = {**os.environ, "GITHUB_TOKEN": TOKEN, "CODEMILL_STATE_DIR": str(work / "state"),
           "XDG_CACHE_HOME": str(work / "cache"), "PYTHONPATH": str(ROOT)}  # fmt: skip
    env.pop("PREFECT_API_URL", None)
    repo = project(work / "repo", files, dirs)
    with FakeForge(work / "forge", TOKEN) as forge:
        git(repo, "remote", "add", "origin", str(forge.add_repo("octo/bench", seed=repo)))
        seconds, out = codemill(
            repo, env, "run", "--dry-run", "--orchestrator", "local", "--no-progress", "."
        )
        run_dir = next(
            line.split(" ", 2)[2]
            for line in out.splitlines()
            if line.startswith("codemill: report ")
        )
        print(f"dry run of {files} files: {seconds:.2f} s")
        publish = ["publish", run_dir, "--forge-url", forge.github_url, "--commit-per", commit_per]
        for label in ("one: first", "one: again"):
            before = len(forge.requests), len(forge.writes())
            seconds, _ = codemill(repo, env, *publish)
            asked, wrote = len(forge.requests) - before[0], len(forge.writes()) - before[1]
            print(f"{label}: {seconds:.2f} s, {asked} requests, {wrote} writes")
        before_writes = len(forge.writes())
        seconds, _ = codemill(repo, env, *publish, "--split-by", "directory")
        times = sorted(w.at for w in forge.writes()[before_writes:])
        gaps = [b - a for a, b in itertools.pairwise(times)]
        print(f"split into {dirs}: {seconds:.2f} s, {len(times)} writes, limit floor "
              f"{max(len(times) - 1, 0):.0f} s, least gap {min(gaps, default=0):.3f} s")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--dirs", type=int, default=10)
    parser.add_argument("--commit-per", default="file", choices=("file", "run"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="codemill-bench-publish-") as tmp:
        measure(Path(tmp), args.files, args.dirs, args.commit_per)


if __name__ == "__main__":
    main()
