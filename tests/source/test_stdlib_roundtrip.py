"""Every stdlib module libcst parses: chunk it, splice every chunk back with its own text, same bytes.

The splice goes through the real dedent -> re-indent -> newline -> encode path. The coverage invariant
(chunks and gaps cover every byte once) is checked on the same plan: each file is parsed once.
"""

from __future__ import annotations

import os
import sysconfig
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import libcst as cst
import pytest

from pipeline.source.chunking import check_coverage, cut_module
from pipeline.source.files import SkippedFile, _decode
from pipeline.source.spans import ChunkingError
from pipeline.source.splicing import splice

STDLIB = Path(sysconfig.get_paths()["stdlib"])


def stdlib_files() -> list[Path]:
    return sorted(p for p in STDLIB.rglob("*.py") if "site-packages" not in p.parts)


def check_file(path: Path) -> tuple[Counter[str], list[str]]:
    """Counts for one file and the failures found in it (empty when it round trips)."""
    counts: Counter[str] = Counter()
    data = path.read_bytes()
    source = _decode(str(path), data)
    if isinstance(source, SkippedFile):
        counts["not decodable"] += 1
        return counts, []
    try:
        plan = cut_module(source.path, source.text, encoding=source.encoding, bom=source.bom)
    except cst.ParserSyntaxError:
        counts["libcst does not parse"] += 1
        return counts, []
    except ChunkingError as exc:
        counts["libcst does not regenerate"] += 1
        # only acceptable when libcst's own code generation is at fault
        try:
            regenerated = cst.parse_module(source.text).code
        except RecursionError:
            return counts, []
        return counts, [] if regenerated != source.text else [f"{path}: {exc}"]
    failures = []
    try:
        check_coverage(plan, len(data))
    except ValueError as exc:
        failures.append(f"{path}: coverage: {exc}")
    if splice(data, [(c, c.text) for c in plan.chunks]) != data:
        failures.append(f"{path}: splice changed the bytes")
    counts["files"] += 1
    counts["chunks"] += len(plan.chunks)
    counts.update(c.kind for c in plan.chunks)
    counts["oversized"] += sum(c.oversized for c in plan.chunks)
    counts["dedented"] += sum(bool(c.indent) for c in plan.chunks)
    counts["crlf"] += sum(c.newline == "\r\n" for c in plan.chunks)
    return counts, failures


# The fast set's sample: every 80th file in path order, a spread over the packages.
SAMPLE_EVERY = 80


def round_trip(files: list[Path]) -> tuple[Counter[str], list[str]]:
    """Totals and failures over `files`, on up to two worker processes."""
    totals: Counter[str] = Counter()
    failures: list[str] = []
    workers = min(2, os.cpu_count() or 1)
    with ProcessPoolExecutor(workers) as pool:
        for counts, bad in pool.map(check_file, files, chunksize=16):
            totals.update(counts)
            failures.extend(bad)
    print(f"\nstdlib round trip: {len(files)} .py files under {STDLIB}: {dict(totals)}")
    return totals, failures


def test_a_sample_of_the_stdlib_round_trips_byte_for_byte() -> None:
    files = stdlib_files()[::SAMPLE_EVERY]
    totals, failures = round_trip(files)
    assert failures == []
    assert totals["files"] > 0.9 * len(files)
    assert totals["method"] > 50 and totals["dedented"] > 50


# The slow set's share of the corpus: every 4th file (another offset than the fast sample), about 75 s of
# CPU; CODEMILL_STDLIB_EVERY=1 runs every file (about 300 s), as before a libcst upgrade.
CORPUS_EVERY = int(os.environ.get("CODEMILL_STDLIB_EVERY", "4"))


@pytest.mark.slow
def test_the_stdlib_corpus_round_trips_byte_for_byte() -> None:
    files = stdlib_files()[1::CORPUS_EVERY] if CORPUS_EVERY > 1 else stdlib_files()
    totals, failures = round_trip(files)
    assert failures == []
    assert totals["files"] > 0.95 * len(files)
    assert totals["method"] > 10_000 / CORPUS_EVERY and totals["dedented"] > 10_000 / CORPUS_EVERY
