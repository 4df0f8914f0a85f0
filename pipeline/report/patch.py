"""changes.patch: a unified diff of a run's changes that `git apply` accepts on the base commit.

Patch text is the files' bytes decoded as UTF-8 with surrogateescape, so any byte survives a round
trip when written back with the same error handler (write_report_dir does).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pipeline.report.line_diff import hunks, split_lines

Changes = Mapping[str, tuple[bytes, bytes]]  # repo-relative path -> (bytes before, bytes after)
_NO_EOL = b"\\ No newline at end of file\n"
_C_ESCAPES = {7: "a", 8: "b", 9: "t", 10: "n", 11: "v", 12: "f", 13: "r", 34: '"', 92: "\\"}


def _quote(path: str) -> str:
    """git's C-style quoting of a path with special or non-ASCII bytes (core.quotePath)."""
    raw = path.encode("utf-8", "surrogateescape")
    if all(32 <= b < 127 and b not in (34, 92) for b in raw):
        return path
    out = []
    for b in raw:
        if b in _C_ESCAPES:
            out.append("\\" + _C_ESCAPES[b])
        elif 32 <= b < 127:
            out.append(chr(b))
        else:
            out.append(f"\\{b:03o}")
    return '"' + "".join(out) + '"'


def _prefixed(prefix: str, path: str) -> str:
    quoted = _quote(path)
    return f'"{prefix}{quoted[1:]}' if quoted.startswith('"') else f"{prefix}{path}"


def _range(start: int, stop: int) -> str:
    length = stop - start
    if length == 1:
        return str(start + 1)
    return f"{start if length == 0 else start + 1},{length}"


def _emit(out: list[bytes], sign: bytes, lines: Iterable[bytes]) -> None:
    for line in lines:
        out.append(sign + line)
        if not line.endswith(b"\n"):
            out.append(b"\n" + _NO_EOL)


def _file_diff(path: str, before: bytes, after: bytes, context: int) -> bytes:
    a, b = split_lines(before), split_lines(after)
    a_name, b_name = _prefixed("a/", path), _prefixed("b/", path)
    out = [f"diff --git {a_name} {b_name}\n--- {a_name}\n+++ {b_name}\n".encode()]
    for group in hunks(before, after, context):
        i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        out.append(f"@@ -{_range(i1, i2)} +{_range(j1, j2)} @@\n".encode())
        for tag, a1, a2, b1, b2 in group:
            if tag == "equal":
                _emit(out, b" ", a[a1:a2])
                continue
            _emit(out, b"-", a[a1:a2])
            _emit(out, b"+", b[b1:b2])
    return b"".join(out)


def unified_patch(changes: Changes, context: int = 3) -> str:
    """A patch `git apply` accepts on the base: files in path order, unchanged files left out."""
    parts = [
        _file_diff(path, before, after, context)
        for path, (before, after) in sorted(changes.items())
        if before != after
    ]
    return b"".join(parts).decode("utf-8", "surrogateescape")
