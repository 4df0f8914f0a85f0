"""Benchmark (b): codemill's offline engine against `python -m libcst.tool codemod` on a real project.

Both sides run the same single codemod (ConvertPercentFormatStringCommand) on the same files with
`-j` = cores: libcst's tool rewrites a copy of the tree in place (`--no-format`); codemill does a dry run
with a one-codemod user recipe and the import check off, once with the prefilter and once without
(CODEMILL_PREFILTER=0). The project is docutils' sdist from PyPI (never committed here), unpacked and
committed into a temporary git repository by this script. Reported: wall time of each side as a ratio
to libcst's, measured in the same run, peak memory of each side with its children (the sum of the RSS
of its process tree, sampled), and whether the same files changed on both sides.

    python bench/offline.py [--reps 1] [--jobs N] [--work DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

CODEMOD = "convert_percent_format_to_fstring.ConvertPercentFormatStringCommand"
RECIPE = f"""---
name: percent
description: Percent formatting to f-strings, offline only (bench/offline.py).
scope: any
codemods:
  - libcst.codemod.commands.{CODEMOD}
---
## System
Rewrite percent formatting as f-strings.

## User
$context

$chunk
"""
IDENTITY = ["-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]


def fetch_docutils(work: Path) -> Path:
    """docutils' sdist from PyPI, unpacked and committed into a git repository under `work`."""
    repo = work / "docutils"
    if (repo / ".git").is_dir():
        return repo
    downloads = work / "sdist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "docutils",
            "--no-binary",
            ":all:",
            "--no-deps",
            "--quiet",
            "-d",
            str(downloads),
        ],
        check=True,
    )
    [archive] = downloads.glob("docutils-*.tar.gz")
    with tarfile.open(archive) as tar:
        tar.extractall(work / "unpacked", filter="data")
    [top] = (work / "unpacked").iterdir()
    shutil.move(str(top), repo)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", *IDENTITY, "commit", "-q", "-m", archive.name], cwd=repo, check=True)
    return repo


def tree_rss(pid: int) -> int:
    """Bytes of resident memory of `pid` and every descendant (from /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        children.setdefault(int(fields[1]), []).append(int(entry))
        rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += rss.get(current, 0)
        todo += children.get(current, [])
    return total


def measure(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, int, str]:
    """Wall seconds, peak process-tree RSS in bytes, and stdout+stderr of one command."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    peak = [0]

    def sample() -> None:
        while process.poll() is None:
            peak[0] = max(peak[0], tree_rss(process.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = process.communicate()
    wall = time.perf_counter() - started
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"{command[:4]} exited {process.returncode}:\n{output[-3000:]}")
    return wall, peak[0], output


def libcst_side(repo: Path, work: Path, jobs: int) -> tuple[float, int, set[str]]:
    """libcst's own tool on a fresh copy of the files: wall, peak RSS, the files it changed."""
    copy = work / "libcst-copy"
    shutil.rmtree(copy, ignore_errors=True)
    subprocess.run(["git", "clone", "-q", str(repo), str(copy)], check=True)
    command = [
        sys.executable,
        "-m",
        "libcst.tool",
        "codemod",
        CODEMOD,
        "-j",
        str(jobs),
        "--no-format",
        "--hide-progress",
        ".",
    ]
    wall, peak, _ = measure(command, copy, dict(os.environ))
    changed = subprocess.run(
        ["git", "diff", "--name-only"], cwd=copy, check=True, capture_output=True, text=True
    ).stdout.split()
    return wall, peak, set(changed)


def codemill_side(
    repo: Path, work: Path, jobs: int, *, prefilter: bool
) -> tuple[float, int, set[str]]:
    """codemill's dry run: wall, peak RSS, the files its patch changes."""
    recipe = work / "percent.md"
    recipe.write_text(RECIPE, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODEMILL_", "AIMLAPI"))}
    env.update(CODEMILL_PREFILTER="1" if prefilter else "0", CODEMILL_STATE_DIR=str(work / "state"))
    codemill = str(Path(sys.executable).parent / "codemill")
    command = [
        codemill,
        "run",
        ".",
        "--recipe",
        str(recipe),
        "--engine",
        "codemod",
        "--dry-run",
        "--no-import-check",
        "--jobs",
        str(jobs),
        "--no-progress",
    ]
    wall, peak, output = measure(command, repo, env)
    match = re.search(r"^codemill: report (.+)$", output, re.MULTILINE)
    if match is None:
        raise SystemExit(f"no report line in codemill's output:\n{output[-3000:]}")
    patch = (Path(match.group(1)) / "changes.patch").read_text(encoding="utf-8")
    return wall, peak, set(re.findall(r"^\+\+\+ b/(.+)$", patch, re.MULTILINE))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1, help="runs of each side (best wall kept)")
    parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--work", type=Path, default=None, help="keep downloads and copies here")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="codemill-bench-offline-"))
    work.mkdir(parents=True, exist_ok=True)
    repo = fetch_docutils(work)
    files = subprocess.run(
        ["git", "ls-files", "*.py"], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.split()
    print(
        f"{repo.name}: {len(files)} Python files; jobs {args.jobs}; load {os.getloadavg()[0]:.1f}"
    )
    sides = {
        "libcst.tool codemod": lambda: libcst_side(repo, work, args.jobs),
        "codemill, prefilter": lambda: codemill_side(repo, work, args.jobs, prefilter=True),
        "codemill, no prefilter": lambda: codemill_side(repo, work, args.jobs, prefilter=False),
    }
    best: dict[str, tuple[float, int, set[str]]] = {}
    for _ in range(args.reps):
        for name, run in sides.items():  # interleaved, so a load change hits every side alike
            wall, peak, changed = run()
            if name not in best or wall < best[name][0]:
                best[name] = (wall, max(peak, best.get(name, (0, 0))[1]), changed)
            print(
                f"  {name}: {wall:.1f} s, peak {peak / 2**20:.0f} MB, {len(changed)} files changed"
            )
    base = best["libcst.tool codemod"]
    print("\n| side | wall | ratio to libcst | peak RSS (tree) | files changed | same files |")
    print("|---|---|---|---|---|---|")
    for name, (wall, peak, changed) in best.items():
        same = "yes" if changed == base[2] else f"no: {sorted(changed ^ base[2])[:5]}"
        print(
            f"| {name} | {wall:.1f} s | {wall / base[0]:.2f} | {peak / 2**20:.0f} MB | "
            f"{len(changed)} | {same} |"
        )
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
