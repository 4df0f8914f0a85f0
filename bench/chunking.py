"""Chunking cost against libcst's parse alone, over the running interpreter's standard library.

Usage: python bench/chunking.py [--reps N] [--step K] [--providers]
Each repetition parses every file (timed) then plans the parsed module (timed); best-of per phase.
--step K takes every K-th file; --providers also times libcst metadata providers on those modules.
"""

from __future__ import annotations

import argparse
import contextlib
import sysconfig
import time
from pathlib import Path

import libcst as cst
from libcst.metadata import (
    ByteSpanPositionProvider,
    MetadataWrapper,
    ParentNodeProvider,
    PositionProvider,
)

from pipeline.chunking import ChunkingError, plan_parsed
from pipeline.sources import SourceFile, _decode


def corpus(step: int) -> list[SourceFile]:
    root = Path(sysconfig.get_paths()["stdlib"])
    paths = sorted(p for p in root.rglob("*.py") if "site-packages" not in p.parts)[::step]
    out = []
    for path in paths:
        src = _decode(str(path), path.read_bytes())
        if isinstance(src, SourceFile):
            try:
                cst.parse_module(src.text)
            except cst.ParserSyntaxError:
                continue
            out.append(src)
    return out


def one_rep(sources: list[SourceFile]) -> tuple[float, float, int]:
    parse = chunk = 0.0
    chunks = 0
    for src in sources:
        t0 = time.perf_counter()
        module = cst.parse_module(src.text)
        t1 = time.perf_counter()
        try:
            plan = plan_parsed(src.path, src.text, module, encoding=src.encoding, bom=src.bom)
            chunks += len(plan.chunks)
        except ChunkingError:
            pass
        chunk += time.perf_counter() - t1
        parse += t1 - t0
    return parse, chunk, chunks


def providers(sources: list[SourceFile]) -> None:
    modules = [cst.parse_module(s.text) for s in sources]
    for name, run in [
        ("plain codegen (module.code)", lambda m: m.code),
        (
            "ByteSpanPositionProvider",
            lambda m: MetadataWrapper(m, unsafe_skip_copy=True).resolve(ByteSpanPositionProvider),
        ),
        (
            "PositionProvider",
            lambda m: MetadataWrapper(m, unsafe_skip_copy=True).resolve(PositionProvider),
        ),
        (
            "ParentNodeProvider",
            lambda m: MetadataWrapper(m, unsafe_skip_copy=True).resolve(ParentNodeProvider),
        ),
    ]:
        t0 = time.perf_counter()
        for m in modules:
            with contextlib.suppress(RecursionError):
                run(m)
        print(f"  {name}: {time.perf_counter() - t0:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--step", type=int, default=1)
    parser.add_argument("--providers", action="store_true")
    args = parser.parse_args()
    sources = corpus(args.step)
    size = sum(len(s.data) for s in sources)
    print(f"{len(sources)} files, {size / 1e6:.1f} MB")
    results = [one_rep(sources) for _ in range(args.reps)]
    best_parse = min(r[0] for r in results)
    best_chunk = min(r[1] for r in results)
    print(f"parse (best of {args.reps}): {best_parse:.2f} s")
    print(f"chunking on top (best of {args.reps}): {best_chunk:.2f} s, {results[0][2]} chunks")
    print(f"ratio chunking/parse: {best_chunk / best_parse:.1%}")
    if args.providers:
        print("metadata providers / codegen on the same modules (one pass):")
        providers(sources)


if __name__ == "__main__":
    main()
