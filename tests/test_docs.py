"""The README and docs/*.md against the code, so they cannot drift from it unnoticed: the module map in
docs/architecture.md names every module of pipeline/ and flows/ and nothing that is gone; every module,
name and path the pages mention exists; every flag they give `codemill` is in the live command's `--help`;
the README's exit codes are pipeline/errors.py's ExitCode; every relative link resolves. All in-process."""

from __future__ import annotations

import ast
import re
import signal
from functools import cache
from pathlib import Path

import click
import pytest
import typer

from flows.cli import app
from pipeline.errors import ExitCode

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
PLAIN_FENCE = re.compile(r"^```\n(.*?)^```", re.MULTILINE | re.DOTALL)  # no language: a drawing
TICKED = re.compile(r"`([^`\n]+)`")
FLAG = re.compile(r"--[a-z][a-z0-9-]*")
FILE_ENDINGS = {
    "py",
    "md",
    "html",
    "toml",
    "json",
    "jsonl",
    "xml",
    "patch",
    "png",
    "yml",
    "sqlite3",
}


def _id(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def text_of(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def prose_of(text: str) -> str:
    """The page without its fenced blocks: where headings and inline code live."""
    return FENCE.sub("", text)


# --- the module map ---


def modules_by_part() -> dict[str, set[str]]:
    """`pipeline/source/` -> {files, chunking, ...}; `pipeline/` -> its top-level modules; `flows/`."""
    parts: dict[str, set[str]] = {"pipeline/": set(), "flows/": set()}
    for path in (ROOT / "pipeline").rglob("*.py"):
        relative = path.relative_to(ROOT / "pipeline")
        part = f"pipeline/{relative.parts[0]}/" if len(relative.parts) > 1 else "pipeline/"
        if path.stem != "__init__":
            parts.setdefault(part, set()).add(path.stem)
    parts["flows/"] = {p.stem for p in (ROOT / "flows").glob("*.py") if p.stem != "__init__"}
    return parts


def architecture_map() -> dict[str, set[str]]:
    """docs/architecture.md's module map: part -> the backticked names in its `modules` column
    (what a module's parenthesis says is a note, not a module)."""
    text = text_of(ROOT / "docs" / "architecture.md")
    found: dict[str, set[str]] = {}
    for part, modules in re.findall(
        r"^\| `([a-z/_]+/)` \|[^|\n]*\| ([^\n]*) \|$", text, re.MULTILINE
    ):
        found[part] = set(re.findall(r"`([a-z_]+)`", re.sub(r"\([^)]*\)", "", modules)))
    return found


def test_the_module_map_names_every_module_in_its_part() -> None:
    tree, page = modules_by_part(), architecture_map()
    assert page.keys() == tree.keys(), (
        "docs/architecture.md's module map: one row per part of pipeline/ and flows/"
    )
    for part, modules in tree.items():
        missing, gone = sorted(modules - page[part]), sorted(page[part] - modules)
        assert not missing, (
            f"add {missing} to the `{part}` row of docs/architecture.md's module map"
        )
        assert not gone, (
            f"docs/architecture.md's module map names {gone} in `{part}`: no such module"
        )


# --- names and paths the pages mention ---


@cache
def pipeline_parts() -> frozenset[str]:
    """What a short dotted name may start with: a package or top-level module of pipeline/."""
    return frozenset(p.stem for p in (ROOT / "pipeline").iterdir() if p.stem != "__init__")


def module_file(parts: list[str]) -> tuple[Path, list[str]] | None:
    """The file of the longest module prefix of `parts`, and the names after it."""
    for end in range(len(parts), 0, -1):
        base = ROOT.joinpath(*parts[:end])
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate, parts[end:]
    return None


def defined(body: list[ast.stmt]) -> dict[str, ast.stmt]:
    """The names a module or class body binds: definitions, assignments, imports."""
    names: dict[str, ast.stmt] = {}
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names[node.name] = node
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update({t.id: node for t in targets if isinstance(t, ast.Name)})
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update({(a.asname or a.name).split(".")[0]: node for a in node.names})
    return names


def unresolved(dotted: str) -> str | None:
    """Why `dotted` (`pipeline.run.execute_run`, `judge.thinking`, `config.SETTINGS`) names nothing."""
    parts = dotted.split(".")
    if parts[0] not in ("pipeline", "flows"):
        parts = ["pipeline", *parts]
    found = module_file(parts)
    if found is None:
        return "no such module"
    path, names = found
    scope = defined(ast.parse(path.read_text(encoding="utf-8")).body)
    for name in names[:2]:  # a module's name, then a class's attribute
        if name not in scope:
            return f"{_id(path)} defines no {name!r}"
        node = scope[name]
        scope = defined(node.body) if isinstance(node, ast.ClassDef) else {}
        if not scope:
            break
    return None


def dotted_names(text: str) -> set[str]:
    """Module paths a page names: `pipeline.x.y` or `flows.x` anywhere, and in inline code or a fenced
    drawing (a fence without a language) also the short form `part.module[.name]`; a file name
    (`report.html`) is not one."""
    full = set(re.findall(r"(?<![\w.])((?:pipeline|flows)(?:\.[A-Za-z_]\w*)+)", text))
    code = " ".join([*TICKED.findall(prose_of(text)), *PLAIN_FENCE.findall(text)])
    short = {
        name
        for name in re.findall(r"(?<![\w./-])([a-z_]+(?:\.[A-Za-z_]\w*)+)(?![\w/-])", code)
        if name.split(".")[0] in pipeline_parts()
    }
    return {n for n in full | short if n.rsplit(".", 1)[-1] not in FILE_ENDINGS}


@pytest.mark.parametrize("page", PAGES, ids=_id)
def test_every_module_and_name_a_page_mentions_exists(page: Path) -> None:
    wrong = {name: why for name in dotted_names(text_of(page)) if (why := unresolved(name))}
    assert not wrong, f"{_id(page)} names what the code does not have: {wrong}"


def repository_paths(text: str) -> set[str]:
    """Paths into the repository a page names (`pipeline/run/`, `tests/test_docs.py`), not patterns."""
    tops = "|".join(re.escape(p.name) for p in ROOT.iterdir() if p.is_dir() and p.name != ".git")
    found = re.findall(rf"(?<![\w/.~$-])((?:{tops})/[\w./-]*)(?![\w<*{{])", text)
    return {path.rstrip(".:,") for path in found}


@pytest.mark.parametrize("page", PAGES, ids=_id)
def test_every_path_a_page_mentions_exists(page: Path) -> None:
    missing = sorted(p for p in repository_paths(text_of(page)) if not (ROOT / p).exists())
    assert not missing, f"{_id(page)} names paths that do not exist: {missing}"


# --- links ---


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {slug(h) for h in re.findall(r"^#+ (.+)$", prose_of(text_of(page)), re.MULTILINE)}


@pytest.mark.parametrize("page", PAGES, ids=_id)
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", prose_of(text_of(page))):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists() or (anchor and anchor not in anchors(linked)):
            broken.append(target)
    assert not broken, f"{_id(page)} links to what is not there: {broken}"


# --- flags ---


@cache
def help_flags() -> dict[str, frozenset[str]]:
    """Each command's flags as its `--help` lists them ("" for the app's own), from the live app: click's
    help record of each parameter, which is what `--help` prints and None for a hidden option."""
    group = typer.main.get_command(app)
    app_context = click.Context(group, info_name="codemill")
    contexts = {"": app_context} | {
        name: click.Context(command, info_name=name, parent=app_context)
        for name, command in group.commands.items()  # type: ignore[attr-defined]
    }
    return {
        name: frozenset(
            flag
            for param in context.command.get_params(context)
            if (record := param.get_help_record(context))
            for flag in FLAG.findall(record[0])
        )
        for name, context in contexts.items()
    }


def command_lines(text: str) -> list[str]:
    """Every `codemill ...` invocation: in inline code, and in fenced blocks (joining `\\` continuations
    and the synopsis's `[...]` lines)."""
    spans = TICKED.findall(prose_of(text))
    lines = [s for s in spans if s.startswith("codemill ") and not s.startswith("codemill <")]
    for block in FENCE.findall(text):
        joined = re.sub(r"\\\n\s*", " ", block)
        joined = re.sub(r"\n\s+(?=\[)", " ", joined)
        starts = r"(?:^|&&|;)\s*(?:[A-Z_]+=\S+\s+)*"  # a command's start, after VAR=value
        lines += re.findall(starts + r"(codemill [^\n#&;]*)", joined, re.MULTILINE)
    return lines


def misused_flags(line: str, flags: dict[str, frozenset[str]]) -> list[str]:
    """The flags of one invocation its command does not have (before the command: the app's own)."""
    words = line.split()[1:]
    at = next((i for i, word in enumerate(words) if not word.startswith("-")), len(words))
    app_flags, command = words[:at], " ".join(words[at : at + 1])
    if command not in flags:
        return [f"no command {command!r}"]
    rest = FLAG.findall(" ".join(words[at + 1 :]))
    return [f for f in app_flags if f not in flags[""]] + [
        f for f in rest if f not in flags[command]
    ]


@pytest.mark.parametrize("page", PAGES, ids=_id)
def test_every_flag_a_page_gives_a_command_is_in_its_help(page: Path) -> None:
    flags, text = help_flags(), text_of(page)
    wrong = {line: bad for line in command_lines(text) if (bad := misused_flags(line, flags))}
    assert not wrong, f"{_id(page)}: flags or commands `codemill --help` does not list: {wrong}"
    known = set().union(*flags.values())
    loose = {
        f
        for span in TICKED.findall(prose_of(text))
        if span.startswith("--")
        for f in FLAG.findall(span)
    }
    assert loose <= known, (
        f"{_id(page)} names flags no codemill command has: {sorted(loose - known)}"
    )


def test_the_flag_check_catches_a_wrong_flag() -> None:
    flags = help_flags()
    assert misused_flags("codemill run . --recipe modernize --dry-run", flags) == []
    assert misused_flags("codemill run . --no-such-flag", flags) == ["--no-such-flag"]
    assert misused_flags("codemill report RUN --dry-run", flags) == ["--dry-run"]
    assert misused_flags("codemill nonesuch --x", flags) == ["no command 'nonesuch'"]


# --- the README as a guide ---


def test_the_readme_exit_codes_are_the_codes_codemill_exits_with() -> None:
    section = text_of(ROOT / "README.md").split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    listed = {
        int(c)
        for row in re.findall(r"^\| ([\d /]+) \|", section, re.MULTILINE)
        for c in row.split("/")
    }
    signals = {ExitCode.SIGNAL_BASE + signal.SIGINT, ExitCode.SIGNAL_BASE + signal.SIGTERM}
    expected = {int(c) for c in ExitCode if c is not ExitCode.SIGNAL_BASE} | signals
    assert listed == expected, (
        f"README's exit codes {sorted(listed)} are not pipeline/errors.py's ExitCode {sorted(expected)}"
    )


def test_the_readme_stays_a_guide() -> None:
    lines = len(text_of(ROOT / "README.md").splitlines())
    assert lines < 300, f"README.md has {lines} lines: move operations or development to docs/"
