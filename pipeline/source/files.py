"""The files of a run: git-tracked Python files read from a commit, never from the working tree.

Selection: every blob of the base commit (default HEAD) under `paths` whose name ends in `.py` (and
`.pyi` with `include_stubs`), kept when it matches one `include` glob (if any) and no `exclude` glob.
`only` further restricts to an explicit set of repo-relative paths (e.g. "files changed since").

Paths: absolute, or relative to the current directory when it lies inside the repository, otherwise
relative to `repo_root`; a path may name a subdirectory or a single file.

Globs (include/exclude) match the repo-relative posix path: `*` and `?` never cross "/", `**` crosses
any number of directories (`a/**/b.py` also matches `a/b.py`), `[...]` is a character class, a
trailing "/" means everything below. A glob without "/" matches the file name in any directory.

Skipped and reported, never followed: symlinks, submodules, stubs (without `include_stubs`), files
over `max_bytes`, generated files (the marker `@generated` on one of the first 5 lines, within the
first 2048 bytes), and files that are not text in their declared encoding: UTF-8 unless a PEP 263
coding line (line 1 or 2) names another codec; a file whose decoding does not re-encode to the same
bytes is skipped as not-utf8 too. A UTF-8 BOM is kept (SourceFile.bom). Parse errors are found
once, when the planner cuts the file (`pipeline.source.chunking.plan_file`).
"""

from __future__ import annotations

import codecs
import io
import os
import re
import tokenize
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path, PurePosixPath

from pipeline.errors import UsageError
from pipeline.repository import (
    GitOpsError,
    NotInTreeError,
    Repository,
    TreeEntry,
    open_repository,
    resolve_base,
    tree_entries,
    uncommitted_paths,
)

_GENERATED_LINES = 5
_GENERATED_BYTES = 2048
_GENERATED = re.compile(rb"@generated\b")


class SourceError(UsageError):
    """The run cannot list its files: not a repository, or a path outside it."""


class SkipReason(StrEnum):
    NOT_UTF8 = "not-utf8"
    GENERATED = "generated"
    TOO_LARGE = "too-large"
    SYMLINK = "symlink"
    SUBMODULE = "submodule"
    STUB = "stub"
    PARSE_ERROR = "parse-error"
    NO_TRIGGER = "no-trigger"  # no codemod of the recipe can change it: never parsed
    CRASHED = "worker-crashed"  # the worker process died on it (native crash, out of memory)
    NO_STATEMENTS = "no-statements"  # empty, or only comments and blank lines: nothing to send


@dataclass(frozen=True)
class SourceFile:
    """One file as committed: its original bytes and their decoded text (without the BOM)."""

    path: str  # repo-relative posix path
    data: bytes
    text: str
    encoding: str = "utf-8"
    bom: bool = False


@dataclass(frozen=True)
class SkippedFile:
    """A file left out of the run, with a reason code and one sentence for the report."""

    path: str
    reason: SkipReason
    detail: str


@dataclass
class SourceSet:
    """The files of a run, the ones skipped, the base commit and what differs in the working tree."""

    files: list[SourceFile]
    skipped: list[SkippedFile]
    base_commit: str
    uncommitted: list[str] = field(default_factory=list)


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Compile a glob (see module docstring) to a regex over the repo-relative path."""
    if pattern.endswith("/"):
        pattern += "**"
    if "/" not in pattern:
        pattern = "**/" + pattern
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and (close := pattern.find("]", i + 2)) != -1:
            body = pattern[i + 1 : close]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = close + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def _open_repo(repo_root: Path) -> Repository:
    try:
        return open_repository(repo_root)
    except GitOpsError as exc:
        raise SourceError(f"not a git repository: {repo_root} ({exc})") from None


def _prefixes(repo: Repository, repo_root: Path, paths: Sequence[str]) -> list[str]:
    """Repo-relative posix prefixes of `paths` ("" for the whole repository)."""
    top = Path(repo.working_tree_dir or repo_root).resolve()
    cwd = Path.cwd().resolve()
    anchor = cwd if cwd == top or top in cwd.parents else Path(repo_root).resolve()
    out = []
    for p in paths:
        full = (anchor / p).resolve() if not os.path.isabs(p) else Path(p).resolve()
        try:
            rel = full.relative_to(top).as_posix()
        except ValueError as exc:
            raise SourceError(f"path not in repository: {p}") from exc
        out.append("" if rel == "." else rel)
    return out


def _entries(repo: Repository, commit: str, prefix: str, shown: str) -> Iterator[TreeEntry]:
    """Every file and submodule under `prefix` at `commit`; a path not there is the user's error."""
    try:
        yield from tree_entries(repo, commit, prefix)
    except NotInTreeError:
        raise SourceError(f"path not in repository: {shown}") from None


def _decode(path: str, data: bytes) -> SourceFile | SkippedFile:
    """Decode per BOM / PEP 263; anything that is not a lossless decoding is a not-utf8 skip."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        return SkippedFile(path, SkipReason.NOT_UTF8, f"bad encoding declaration: {exc.msg}")
    bom = data.startswith(codecs.BOM_UTF8)
    codec = "utf-8" if encoding == "utf-8-sig" else encoding
    body = data[3:] if bom else data
    try:
        text = body.decode(codec)
    except UnicodeDecodeError as exc:
        line = body.count(b"\n", 0, exc.start) + 1
        column = exc.start - (body.rfind(b"\n", 0, exc.start) + 1) + 1
        bad = body[exc.start : exc.start + 1].hex()
        return SkippedFile(
            path, SkipReason.NOT_UTF8, f"line {line}, column {column}: byte 0x{bad} is not {codec}"
        )
    if text.encode(codec) != body:
        return SkippedFile(
            path, SkipReason.NOT_UTF8, f"decoding as {codec} does not re-encode to the same bytes"
        )
    return SourceFile(path, data, text, codec, bom)


def _generated(data: bytes) -> bool:
    head = data[:_GENERATED_BYTES].split(b"\n", _GENERATED_LINES)[:_GENERATED_LINES]
    return any(_GENERATED.search(line) for line in head)


def _uncommitted(
    repo: Repository, base: str, prefixes: list[str], wanted: re.Pattern[str]
) -> list[str]:
    """Paths under `prefixes` whose working-tree state differs from `base` (none when git cannot tell)."""
    return [p for p in uncommitted_paths(repo, base, prefixes) or [] if wanted.search(p)]


def _read_entry(
    item: TreeEntry, *, max_bytes: int, include_stubs: bool
) -> SourceFile | SkippedFile | None:
    """One tree entry read as a source file, or the reason it is skipped; None when it is not Python."""
    path = item.path
    if item.is_submodule:
        detail = "a git submodule: its files belong to another repository; not followed"
        return SkippedFile(path, SkipReason.SUBMODULE, detail)
    if not path.endswith((".py", ".pyi")):
        return None
    if item.is_symlink:
        target = item.read().decode("utf-8", "replace")
        return SkippedFile(path, SkipReason.SYMLINK, f"a symbolic link to {target}; not followed")
    if path.endswith(".pyi") and not include_stubs:
        detail = "a type stub (.pyi): codemill refactors .py files, and no option includes stubs"
        return SkippedFile(path, SkipReason.STUB, detail)
    if item.size > max_bytes:
        detail = f"{item.size} bytes, over the limit of {max_bytes}"
        return SkippedFile(path, SkipReason.TOO_LARGE, detail)
    data = item.read()
    if _generated(data):
        detail = f"marked @generated in its first {_GENERATED_LINES} lines"
        return SkippedFile(path, SkipReason.GENERATED, detail)
    return _decode(path, data)


def list_sources(
    repo_root: Path,
    paths: Sequence[str] = (".",),
    *,
    base: str = "HEAD",
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    max_bytes: int = 512_000,
    include_stubs: bool = False,
    only: Collection[str] | None = None,
) -> SourceSet:
    """The Python files of `base` under `paths`, read from git objects, with every skip reported."""
    repo = _open_repo(Path(repo_root))
    commit = resolve_base(repo, base)
    prefixes = _prefixes(repo, Path(repo_root), paths)
    includes = [_glob_regex(g) for g in include]
    excludes = [_glob_regex(g) for g in exclude]
    chosen = None if only is None else {PurePosixPath(p).as_posix() for p in only}

    def selected(path: str) -> bool:
        if chosen is not None and path not in chosen:
            return False
        if includes and not any(g.match(path) for g in includes):
            return False
        return not any(g.match(path) for g in excludes)

    files: dict[str, SourceFile] = {}
    skipped: dict[str, SkippedFile] = {}
    for prefix, shown in zip(prefixes, paths, strict=True):
        for item in _entries(repo, commit, prefix, shown):
            path = item.path
            if path in files or path in skipped or not selected(path):
                continue
            entry = _read_entry(item, max_bytes=max_bytes, include_stubs=include_stubs)
            if isinstance(entry, SkippedFile):
                skipped[path] = entry
            elif entry is not None:
                files[path] = entry
    suffix = r"\.pyi?\Z" if include_stubs else r"\.py\Z"
    wanted = re.compile(suffix)
    uncommitted = [p for p in _uncommitted(repo, commit, prefixes, wanted) if selected(p)]
    return SourceSet(
        files=sorted(files.values(), key=lambda f: f.path),
        skipped=sorted(skipped.values(), key=lambda s: s.path),
        base_commit=commit,
        uncommitted=uncommitted,
    )
