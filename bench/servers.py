"""Issue 24's numbers: how the token bound compares with a real tokenizer, and whether the loop check takes
real code for a loop.

`python bench/servers.py loops` cuts every stdlib module and sends each chunk back as its own answer, whole
(the judge's check) and streamed 7 characters at a time (the stream reader's), and counts the chunks taken
for a loop (0 is the requirement), the check's cost, and how far a looping stream gets before its stop.
`python bench/servers.py tokens --files 150` needs the llama-server of scripts/setup-real-model.sh: it counts
the chunks of `--files` stdlib modules and the worst strings of tests/model/test_tokens.py with the server's
/tokenize and prints bytes per token and the bound's ratio to the real count (>= 1 is the requirement).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from model.test_tokens import WORST  # noqa: E402
from support.real_model import installed, llama_server  # noqa: E402

from pipeline.judge.looping import LoopWatch, looping, normalized  # noqa: E402
from pipeline.model.tokens import tokens_upper  # noqa: E402
from pipeline.source.chunking import Chunk, cut_module  # noqa: E402
from pipeline.source.files import SkippedFile, _decode  # noqa: E402

STDLIB = Path(sysconfig.get_paths()["stdlib"])


def stdlib_chunks(files: int | None = None, seed: int = 1) -> Iterator[Chunk]:
    """The chunks of every stdlib module (or of `files` of them, drawn with `seed`) libcst cuts."""
    paths = sorted(p for p in STDLIB.rglob("*.py") if "site-packages" not in p.parts)
    if files is not None:
        random.Random(seed).shuffle(paths)
        paths = paths[:files]
    for path in paths:
        source = _decode(str(path), path.read_bytes())
        if isinstance(source, SkippedFile):
            continue
        try:
            yield from cut_module(source.path, source.text, encoding=source.encoding).chunks
        except Exception:  # a module libcst cannot cut is not this bench's subject
            continue


def loops() -> None:
    """Chunks taken for a loop, whole and streamed; the check's cost; a looping stream's stop."""
    count, whole, streamed, spent = 0, 0, 0, 0.0
    for chunk in stdlib_chunks():
        answer = f"```python\n{chunk.text}```\n"
        count += 1
        started = time.perf_counter()
        whole += looping(answer, normalized(chunk.text)) is not None
        spent += time.perf_counter() - started
        watch = LoopWatch(chunk.text)
        streamed += any(watch.feed(answer[i : i + 7]) for i in range(0, len(answer), 7))
    print(
        f"{count:,} stdlib chunks as answers: {whole} taken for a loop whole, {streamed} streamed"
    )
    print(f"whole-answer check: {spent / count * 1e6:.0f} us a chunk on average")
    text = "```python\ndef f(" + "".join(f"dt{n}=None, " for n in range(1, 2000))
    watch, read = LoopWatch("def f(dt1=None):\n    return dt1\n"), 0
    while watch.feed(text[read : read + 5]) is None:
        read += 5
    print(f"`dt1=None, dt2=None, ...` streamed: stopped after {read:,} characters")


def tokens(files: int) -> None:
    """Bytes per token and the bound's ratio to SmolLM2's count, stdlib chunks and worst strings."""
    samples = [c.text for c in stdlib_chunks(files)]
    worst = {name: make() for name, make in WORST.items()}
    with tempfile.TemporaryDirectory() as tmp:
        found = installed()
        with llama_server(found, Path(tmp), context=2048, api_key="bench-key") as server:
            code = [(t, server.tokens(t)) for t in samples]
            hard = {n: (t, server.tokens(t)) for n, t in worst.items()}
    per_token = sorted(len(t.encode()) / n for t, n in code if n)
    ratio = sorted(tokens_upper(t) / n for t, n in code if n)
    print(f"{len(code):,} chunks of {files} stdlib modules: bytes/token min {per_token[0]:.2f}, ")
    print(f"  median {statistics.median(per_token):.2f}, max {per_token[-1]:.2f}")
    print(f"  bound/count: min {ratio[0]:.2f}, median {statistics.median(ratio):.2f}")
    print(f"  bytes/3 under the count: {sum(len(t.encode()) / 3 < n for t, n in code)} chunks")
    for name, (text, count) in hard.items():
        size = len(text.encode())
        print(
            f"{name:12} {size:6,} bytes {count:6,} tokens: {size / count:.2f} bytes/token, ", end=""
        )
        print(f"bound {tokens_upper(text) / count:.2f}x, bytes/3 {size / 3 / count:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("loops")
    counting = sub.add_parser("tokens")
    counting.add_argument("--files", type=int, default=150)
    args = parser.parse_args()
    if args.what == "loops":
        loops()
    else:
        tokens(args.files)


if __name__ == "__main__":
    main()
