"""A calibrated guess of one request's tokens before it is sent: the cost forecast's unit.

The prompt is counted from the rendered messages, the completion from the chunk's size (the answer is
the chunk rewritten, plus a think block). The constants are measured against a real tokenizer
(bench/forecast.py, SmolLM2's through llama.cpp; bench/RESULTS.md holds the numbers); the ledger keeps
forecast and actual per chunk so a run shows how far apart they were. MiniMax-M2.1's tokenizer cannot be
had here: the defaults are its figures as far as they are known, not SmolLM2's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pipeline.model.completion import Usage

# Python source and English prose through a BPE vocabulary. Measured: SmolLM2's 49k-entry BPE gives
# 3.51-3.56 bytes a token on codemill's rendered prompts; MiniMax's own ratio is not measured here.
BYTES_PER_TOKEN = 3.6
MESSAGE_TOKENS = 6  # the chat template's tokens around each message (ChatML: 5, and 3 to reply)
ANSWER_FENCE_TOKENS = 12  # the ```python fence and the line around it
# The thinking MiniMax-M2.1 puts before its answer: not measurable here (no MiniMax tokens to count). A
# model that does not think (SmolLM2) answers 37-47% below the completion forecast, all of it this part.
THINK_PER_CHUNK_TOKEN = 0.5  # a reasoning model thinks about half the chunk's length...
THINK_TOKENS = 60  # ...plus a fixed opening


def text_tokens(text: str) -> int:
    """Tokens of `text` at the calibrated ratio."""
    return round(len(text.encode("utf-8")) / BYTES_PER_TOKEN)


@dataclass(frozen=True)
class TokenForecast:
    """Forecast prompt and completion tokens of one request (or, summed, of several)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    def __add__(self, other: TokenForecast) -> TokenForecast:
        return TokenForecast(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
        )

    def as_usage(self) -> Usage:
        """The forecast as a Usage, to price it like an answer."""
        total = self.prompt_tokens + self.completion_tokens
        return Usage(self.prompt_tokens, self.completion_tokens, total_tokens=total)

    def to_json(self) -> dict[str, int]:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens}


def forecast_request(messages: Sequence[Mapping[str, str]], chunk_text: str) -> TokenForecast:
    """The tokens one request for a chunk should take: its rendered prompt and the rewritten chunk."""
    prompt = sum(text_tokens(m.get("content") or "") + MESSAGE_TOKENS for m in messages)
    answer = text_tokens(chunk_text)
    think = round(THINK_PER_CHUNK_TOKEN * answer) + THINK_TOKENS
    return TokenForecast(prompt, answer + ANSWER_FENCE_TOKENS + think)
