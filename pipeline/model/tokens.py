"""How many tokens a text is: counted by the server's own tokenizer where it has one, bounded otherwise.

llama.cpp's server and vLLM expose `POST /tokenize` beside `/v1`: the counter probes it once per run (the
first time a count is needed), then counts each distinct text once (cached). Elsewhere, and whenever the
server cannot count, `tokens_upper` bounds the count from the text's shape: every digit, punctuation
mark and non-ASCII byte may be a token of its own (repetitive model output such as `dt437=None,` is
made of them, 1.7 bytes a token), a word is one token plus one per 2 letters, a whitespace run one plus
one per 4 characters (a single space joins the next word). Checked against SmolLM2's tokenizer on 2,987
stdlib chunks, the recipes' prompts and repetitive, hex, CJK, emoji and escaped strings (bench/RESULTS.md,
issue 24): never under but for random consonants (0.93 of the count), about 2.5 times over on code.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from typing import Any

import httpx

log = logging.getLogger("codemill.model")

_ONE_EACH = re.compile(
    r"[0-9!-/:-@\[-`{-~]"
)  # digits and ASCII punctuation: a token each, at worst
_WORDS = re.compile(r"[A-Z]*[a-z]+|[A-Z]+")  # camelCase splits: a case change may start a token
_SPACES = re.compile(r"\s\s+|[^\S ]")  # runs of two or more, or one that is not a plain space
CUSHION = 1.1  # over the shape's count: hex tables measured 0.95 of it
CACHE_LIMIT = 4096  # distinct texts counted per run before the cache starts afresh


def tokens_upper(text: str) -> int:
    """An upper bound on the tokens any BPE tokenizer of a code model makes of `text`, from its shape."""
    data = text.encode("utf-8", "surrogatepass")
    non_ascii = len(data) - len(text.encode("ascii", "ignore"))
    words = _WORDS.findall(text)
    spaces = _SPACES.findall(text)
    shape = (
        len(_ONE_EACH.findall(text))
        + non_ascii
        + len(words)
        + sum(map(len, words)) // 2
        + len(spaces)
        + sum(map(len, spaces)) // 4
    )
    return int(shape * CUSHION) + 1


def tokenize_root(base_url: str) -> str:
    """Where `/tokenize` lives: beside the OpenAI routes, at the server's root."""
    return base_url.rstrip("/").removesuffix("/v1") + "/tokenize"


class TokenCounter:
    """Counts texts with the server's tokenizer over the run's HTTP client; None when it has none.

    The first count probes the endpoint with llama.cpp's body (`content`), then vLLM's (`prompt`); a
    server that answers neither, or that fails once, is not asked again this run (the bound is used).
    """

    def __init__(self, http: httpx.AsyncClient, base_url: str, model: str) -> None:
        self._http = http
        self._url = tokenize_root(base_url)
        self._model = model
        self._shape: str | None = None  # "content" (llama.cpp) or "prompt" (vLLM), once probed
        self._usable = True
        self._probe = asyncio.Lock()
        self._cache: dict[bytes, int] = {}  # a text's digest -> its count
        self.requests = 0  # /tokenize requests sent (a test's proof that the cache works)

    async def count(self, text: str) -> int | None:
        """The server's token count of `text`, or None when the server cannot count."""
        if not self._usable:
            return None
        key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        if key in self._cache:
            return self._cache[key]
        if self._shape is None:
            async with self._probe:
                if self._shape is None and self._usable:
                    await self._find_shape()
        if self._shape is None:
            return None
        found = await self._ask(self._shape, text)
        if found is None:
            self._give_up("it failed to count a text")
            return None
        if len(self._cache) >= CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = found
        return found

    async def _find_shape(self) -> None:
        for shape in ("content", "prompt"):
            if await self._ask(shape, "x") is not None:
                self._shape = shape
                return
        self._give_up("it has no /tokenize endpoint")

    def _give_up(self, why: str) -> None:
        self._usable = False
        log.info("token counts are bounded, not counted: %s at %s", why, self._url)

    async def _ask(self, shape: str, text: str) -> int | None:
        """One /tokenize request in `shape`; the count, or None for any failure."""
        body: dict[str, Any] = {shape: text}
        if shape == "prompt":
            body["model"] = self._model
        self.requests += 1
        try:
            reply = await self._http.post(self._url, json=body)
            data = reply.json() if reply.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None
        if not isinstance(data, dict):
            return None
        count, tokens = data.get("count"), data.get("tokens")
        if isinstance(count, int) and not isinstance(count, bool):
            return count
        return len(tokens) if isinstance(tokens, list) else None
