"""How much and how long one model answer may take: sizes in proportion to its `max_tokens`, and a
total deadline per HTTP attempt.

Without them a server decides: a trickle of one byte a second or a stream that never sends `[DONE]`
keeps a run busy for ever (the read and idle timeouts restart at every byte or event), and a gzip body
that inflates to gigabytes, or an answer far longer than `max_tokens` allows, fills the memory.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pipeline.model.completion import Completion
from pipeline.model.errors import AnswerTooLarge
from pipeline.model.request import ModelSettings

# A token is 3-5 characters of code (a CJK character or two); 16 is far past any tokenizer's average,
# and the overhead leaves room for a few long whitespace tokens in a small answer.
CHARS_PER_TOKEN = 16
CHARS_OVERHEAD = 1024
# Bytes of decoded body per token: a JSON body escapes the answer (at most 6 bytes a character for
# non-ASCII text, 1-2 for code); an SSE stream wraps each token or two in an event of 150-400 bytes.
JSON_BYTES_PER_TOKEN = 32
SSE_BYTES_PER_TOKEN = 1024
BODY_OVERHEAD = 64 * 1024  # the JSON around the answer: ids, usage, cost, a think block's tags
ERROR_BODY_BYTES = 64 * 1024  # of an error body only the message is read
# The slowest generation a deadline allows for (a small CPU server, or one slot of several): a whole
# answer of `max_tokens` at this rate, after the read timeout's worth of waiting for the first token.
SLOWEST_TOKENS_PER_SECOND = 5.0
# A request's attempts together may take this many whole deadlines (plus the backoff's wait budget): a
# server that fails slowly is tried twice, not six times (issue 24: 6 x 140 s on one chunk).
REQUEST_DEADLINES = 2


@dataclass(frozen=True)
class AnswerLimits:
    """The bounds on one attempt's answer: characters of answer, decoded body bytes, total seconds."""

    tokens: int  # the answer's max_tokens (the context window when the request leaves it unset)
    chars: int
    body_bytes: int
    deadline: float
    total: float  # seconds for the whole request, its retries and backoff included

    @classmethod
    def of(cls, settings: ModelSettings, max_tokens: int | None, *, stream: bool) -> AnswerLimits:
        """The limits of a request asking for at most `max_tokens` (None: the server's default, at
        most the context window); the deadline is the settings' own when they set one."""
        tokens = max_tokens or settings.context_tokens
        per_token = SSE_BYTES_PER_TOKEN if stream else JSON_BYTES_PER_TOKEN
        deadline = settings.request_deadline or (
            settings.connect_timeout + settings.read_timeout + tokens / SLOWEST_TOKENS_PER_SECOND
        )
        return cls(
            tokens,
            tokens * CHARS_PER_TOKEN + CHARS_OVERHEAD,
            tokens * per_token + BODY_OVERHEAD,
            deadline,
            REQUEST_DEADLINES * deadline + settings.max_total_wait,
        )

    def check_chars(self, size: int, completion: Completion | None = None) -> None:
        """AnswerTooLarge when an answer of `size` characters is longer than max_tokens allows."""
        if size > self.chars:
            kept = None if completion is None else replace(completion, content="", answer="")
            raise AnswerTooLarge(
                f"{size:,} characters, more than {self.tokens:,} tokens can hold",
                None if kept is None else replace(kept, reasoning=""),
            )

    def body_too_large(self) -> AnswerTooLarge:
        """The error for a body that decodes to more than `body_bytes`."""
        return AnswerTooLarge(
            f"the body decodes to more than {self.body_bytes:,} bytes, more than "
            f"{self.tokens:,} tokens can need"
        )
