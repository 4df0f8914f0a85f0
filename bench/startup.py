"""Start-up and the example's offline dry run, as ratios against baselines measured in the same session.

- `codemill --help`, `recipes`, `show-recipe modernize` against `python -c pass` (target: under 0.5 s);
- usage errors that need the repository (unknown recipe, bad --base, a branch that exists) (target: < 1 s);
- (a) `codemill run examples/legacy_app --recipe modernize --dry-run` with no Prefect API (local, target
  under 5 s), its wall and CPU (user + sys of it and its children: the workers, the test gate's runs);
  with `--server-baseline`, also the same run as the `refactor_repo` flow on Prefect's temporary server
  (what a run without a Prefect API did before the local orchestrator; minutes on a loaded machine).

Each command runs REPS times; the best (least disturbed by other load) and the median are reported.

    python bench/startup.py [--reps 5] [--example-reps 2] [--example-only] [--server-baseline]
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


def report(name: str, times: list[float], base: float) -> None:
    best, median = min(times), statistics.median(times)
    print(f"| {name} | {best:.2f} s | {median:.2f} s | {best / base:.1f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--example-reps", type=int, default=2)
    parser.add_argument("--example-only", action="store_true", help="only (a)")
    parser.add_argument(
        "--server-baseline", action="store_true", help="(a) also on the temporary server (slow)"
    )
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
        print("| command | best | median | best / `python -c pass` |\n|---|---|---|---|")
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
            report(name, timed(argv, repo, env, args.reps, ok), base)
        dry = [cm, "run", ".", "--recipe", "modernize", "--dry-run", "--no-progress"]
        local = timed(dry, repo, env, args.example_reps, 0)
        cpu = min(CPU_SPENT[-args.example_reps :])
        print(
            f"\n(a) example offline dry run, local: best {min(local):.2f} s wall "
            f"({min(local) / base:.1f}x `python -c pass`), least CPU {cpu:.2f} s (user + sys)"
        )
        if args.server_baseline:
            ephemeral = [sys.executable, "-c", EPHEMERAL_RUN]
            temporary = timed(ephemeral, repo, env, args.example_reps, 0)
            print(
                f"    on Prefect's temporary server: best {min(temporary):.2f} s; "
                f"ratio {min(local) / min(temporary):.2f}"
            )


if __name__ == "__main__":
    main()
