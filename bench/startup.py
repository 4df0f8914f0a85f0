"""Start-up and the example's offline dry run, as ratios against baselines measured in the same session.

- `codemill --help`, `recipes`, `show-recipe modernize` against `python -c pass` (target: under 0.5 s);
- usage errors that need the repository (unknown recipe, bad --base, a branch that exists) (target: < 1 s);
- (a) `codemill run examples/legacy_app --recipe modernize --dry-run` with no Prefect API (local, target
  under 5 s), on a committed copy of the example (its own [tool.codemill] applies: its test gate runs),
  its wall and CPU (user + sys of it and its children: the workers, the test gate's runs), alternated
  with the baseline; and the same command from the checkout, as the README's quick start runs it;
  with `--server-baseline`, also the same run as the `refactor_repo` flow on Prefect's temporary server
  (what a run without a Prefect API did before the local orchestrator; minutes on a loaded machine).

Each command runs REPS times; the best (least disturbed by other load) and the median are reported.

    python bench/startup.py [--reps 5] [--example-reps 2] [--example-only] [--server-baseline]
                            [--baseline-tree DIR]

`--baseline-tree DIR` also runs every command with DIR (a checkout of an older commit, e.g. made with
`git worktree add --detach DIR <commit>`) first on PYTHONPATH, in the same session: its ratio column is
this tree's best over that tree's best.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
EPHEMERAL_RUN = (
    "import asyncio, os; from pathlib import Path; "
    "from flows.orchestrator import quiet_prefect; quiet_prefect(); "
    "from flows.refactor import refactor_repo; from pipeline.config import load_config; "
    "config = load_config(Path('.'), {'recipe': 'modernize', 'dry_run': True}, os.environ); "
    "asyncio.run(refactor_repo(config, ['.'], show_progress=False))"
)


CPU_SPENT: list[float] = []  # user + sys seconds of each timed command and its children, in order


ENGINE_CPU = (  # the codemod engine alone over the example, in one process: its CPU seconds
    "import sys, time; from pathlib import Path; "
    "from pipeline.recipes.loading import load_recipe; "
    "from pipeline.engines.codemod_files import CodemodFileEngine; "
    "from pipeline.judge.policy import Policy; from pipeline.source.files import SourceFile; "
    "root = Path(sys.argv[1]); "
    "engine = CodemodFileEngine(load_recipe('modernize'), Policy(), budget=2000); "
    "files = [(str(f.relative_to(root)), f.read_text()) for f in sorted(root.rglob('*.py'))]; "
    "started = time.process_time(); "
    "[engine.refactor_source(SourceFile(p, t.encode(), t)) for p, t in files]; "
    "print(time.process_time() - started)"
)


def engine_cpu(root: Path, env: dict[str, str], reps: int) -> float:
    """The least CPU seconds the codemod engine spends on the files under `root`, over `reps` runs."""
    runs = [
        subprocess.run(
            [sys.executable, "-c", ENGINE_CPU, str(root)],
            cwd=root,  # not this checkout: `-c` puts the working directory first on sys.path
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for _ in range(reps)
    ]
    return min(float(out.strip().splitlines()[-1]) for out in runs)


def timed(argv: Sequence[str], cwd: Path, env: dict[str, str], reps: int, ok: int) -> list[float]:
    """Wall seconds of `reps` runs of argv; each must exit with `ok` (CPU seconds go to CPU_SPENT)."""
    times = []
    for _ in range(reps):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        CPU_SPENT.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if done.returncode != ok:
            raise RuntimeError(f"{argv} exited {done.returncode}: {done.stderr[-1500:]}")
    return times


def example_repo(root: Path) -> Path:
    """A committed copy of examples/legacy_app."""
    shutil.copytree(ROOT / "examples" / "legacy_app", root)
    ident = ["-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "example"]):
        subprocess.run(["git", *ident, *args], cwd=root, check=True)
    return root


def report(name: str, times: list[float], base: float, old: list[float] | None) -> None:
    best, median = min(times), statistics.median(times)
    against = f" {min(old):.2f} s | {best / min(old):.2f} |" if old else ""
    print(f"| {name} | {best:.2f} s | {median:.2f} s | {best / base:.1f}x |{against}")


def quick_start(
    cm: str, env: dict[str, str], old_env: dict[str, str] | None, args: argparse.Namespace
) -> None:
    """The README's quick-start command as it stands, from the checkout (alternated with the baseline).

    There the checkout is the repository, so codemill's own [tool.codemill] applies, not the example's:
    no test gate runs and every .py under examples/legacy_app is a candidate."""
    dry = [cm, "run", "examples/legacy_app", "--recipe", "modernize", "--dry-run", "--no-progress"]
    walls: list[float] = []
    old_walls: list[float] = []
    for _ in range(args.example_reps):
        walls += timed(dry, ROOT, env, 1, 0)
        if old_env is not None:
            old_walls += timed(dry, args.baseline_tree.resolve(), old_env, 1, 0)
    against = f"; baseline tree {min(old_walls):.2f} s, ratio {min(walls) / min(old_walls):.2f}"
    print(
        f"    the quick-start command from the checkout (no test gate): best {min(walls):.2f} s, "
        f"median {statistics.median(walls):.2f} s{against if old_walls else ''}, "
        f"load {os.getloadavg()[0]:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--example-reps", type=int, default=2)
    parser.add_argument("--example-only", action="store_true", help="only (a)")
    parser.add_argument(
        "--server-baseline", action="store_true", help="(a) also on the temporary server (slow)"
    )
    parser.add_argument("--baseline-tree", type=Path, help="an older checkout to compare with")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="codemill-startup-") as tmp:
        home = Path(tmp) / "home"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CODEMILL_"))}
        env.update(CODEMILL_STATE_DIR=str(home), XDG_CACHE_HOME=str(home))
        env.update(PREFECT_HOME=str(home / "prefect"), PREFECT_SERVER_ANALYTICS_ENABLED="false")
        # the baseline as it ran before: the temporary server, with the start-up allowance it had then
        env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "600"
        env.pop("AIMLAPI_API_KEY", None)
        repo = example_repo(Path(tmp) / "repo")
        cm = str(BIN / "codemill")
        base = min(timed([sys.executable, "-c", "pass"], repo, env, args.reps, 0))
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}"
        )
        print(f"`python -c pass`: {base:.3f} s (best of {args.reps})\n")
        old_env = None
        if args.baseline_tree is not None:
            old_env = {**env, "PYTHONPATH": str(args.baseline_tree.resolve())}
        head = "| command | best | median | best / `python -c pass` |"
        rule = "|---|---|---|---|"
        if old_env is not None:
            head, rule = head + " baseline tree best | best / baseline |", rule + "---|---|"
        print(f"{head}\n{rule}")
        for name, argv, ok in (
            []
            if args.example_only
            else [
                ("codemill --help", [cm, "--help"], 0),
                ("codemill recipes", [cm, "recipes"], 0),
                ("codemill show-recipe modernize", [cm, "show-recipe", "modernize"], 0),
                ("run: unknown recipe", [cm, "run", ".", "--recipe", "nope", "--dry-run"], 2),
                ("run: bad --base", [cm, "run", ".", "--dry-run", "--base", "nosuch"], 2),
                ("run: branch exists", [cm, "run", ".", "--branch", "main"], 2),
            ]
        ):
            old = None if old_env is None else timed(argv, repo, old_env, args.reps, ok)
            report(name, timed(argv, repo, env, args.reps, ok), base, old)
        dry = [cm, "run", ".", "--recipe", "modernize", "--dry-run", "--no-progress"]
        local: list[float] = []
        cpus: list[float] = []
        old_walls: list[float] = []
        old_cpus: list[float] = []
        for _ in range(args.example_reps):  # alternated with the baseline: both see the same load
            local += timed(dry, repo, env, 1, 0)
            cpus.append(CPU_SPENT[-1])
            if old_env is not None:
                old_walls += timed(dry, repo, old_env, 1, 0)
                old_cpus.append(CPU_SPENT[-1])
        print(
            f"\n(a) example offline dry run, local: best {min(local):.2f} s wall "
            f"({min(local) / base:.1f}x `python -c pass`), median {statistics.median(local):.2f} s, "
            f"least CPU {min(cpus):.2f} s (user + sys), load {os.getloadavg()[0]:.1f}"
        )
        if old_env is not None:
            print(
                f"    baseline tree: best {min(old_walls):.2f} s wall, median "
                f"{statistics.median(old_walls):.2f} s, least CPU {min(old_cpus):.2f} s; ratios "
                f"{min(local) / min(old_walls):.2f} wall, {min(cpus) / min(old_cpus):.2f} CPU"
            )
        quick_start(cm, env, old_env, args)
        cpu_now = engine_cpu(repo, env, args.example_reps)
        print(f"    the codemod engine alone (one process, modernize): {cpu_now:.2f} s CPU")
        if old_env is not None:
            cpu_old = engine_cpu(repo, old_env, args.example_reps)
            print(f"    baseline tree: {cpu_old:.2f} s CPU; ratio {cpu_now / cpu_old:.2f}")
        if args.server_baseline:
            ephemeral = [sys.executable, "-c", EPHEMERAL_RUN]
            temporary = timed(ephemeral, repo, env, args.example_reps, 0)
            print(
                f"    on Prefect's temporary server: best {min(temporary):.2f} s; "
                f"ratio {min(local) / min(temporary):.2f}"
            )


if __name__ == "__main__":
    main()
