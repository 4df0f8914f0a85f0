"""Fitting a request into the model's context window before it is sent: the prompt plus `max_tokens`
never exceed it (reasoning and the answer count against `max_tokens`, and a runaway generation on a
small local server then stops at the window instead of shifting its context or running into the read
timeout).

The prompt is bounded from its text (`tokens_upper`); when that bound does not leave the answer all it
asks for, the server's own tokenizer counts it where it can (`TokenCounter`). One rule decides whether a
turn is sent at all, first turns and repair turns alike: the room left must hold the chunk rewritten,
its own size plus a margin (`answer_floor`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pipeline.model.errors import ContextTooLong
from pipeline.model.tokens import TokenCounter, tokens_upper

# The chat template's tokens: role markers around each message, the assistant's opening after them.
MESSAGE_OVERHEAD_TOKENS = 8
PROMPT_OVERHEAD_TOKENS = 16
FLOOR_MARGIN_MIN = 64  # tokens a rewritten chunk may grow by, at least (a docstring, annotations)
FLOOR_MARGIN_SHARE = 4  # ... or a quarter of the chunk, when more


def prompt_tokens_upper(messages: Sequence[Mapping[str, str]]) -> int:
    """A bound on the prompt's tokens, from its messages' text."""
    return _prompt([tokens_upper(m.get("content") or "") for m in messages])


def _prompt(counts: Sequence[int]) -> int:
    return sum(counts) + MESSAGE_OVERHEAD_TOKENS * len(counts) + PROMPT_OVERHEAD_TOKENS


def answer_floor(chunk_tokens: int) -> int:
    """The least room an answer needs: the chunk's own tokens plus a margin for what it gains."""
    return chunk_tokens + max(FLOOR_MARGIN_MIN, chunk_tokens // FLOOR_MARGIN_SHARE)


async def measure(
    messages: Sequence[Mapping[str, str]],
    answer_for: str,
    wanted: int | None,
    context_tokens: int,
    counter: TokenCounter | None,
) -> tuple[int, int]:
    """(prompt tokens, answer floor): bounds, or the server's counts when the bounds leave less room
    than `wanted` (or than the floor) and the server can count."""
    prompt, floor = prompt_tokens_upper(messages), _floor(answer_for, tokens_upper(answer_for))
    if counter is None or prompt + max(wanted or 0, floor) <= context_tokens:
        return prompt, floor
    counts = [await counter.count(m.get("content") or "") for m in messages]
    counted = await counter.count(answer_for) if answer_for else 0
    if counted is None or any(c is None for c in counts):
        return prompt, floor
    return _prompt([c for c in counts if c is not None]), _floor(answer_for, counted)


def _floor(answer_for: str, tokens: int) -> int:
    """The answer floor of a chunk of `tokens`; 1 when the request rewrites no chunk."""
    return answer_floor(tokens) if answer_for else 1


def fit_max_tokens(
    messages: Sequence[Mapping[str, str]],
    max_tokens: int | None,
    context_tokens: int,
    min_answer_tokens: int = 1,
    *,
    prompt_tokens: int | None = None,
) -> int | None:
    """The `max_tokens` to send: the asked one, lowered so prompt + answer fit the window (None, the
    server's default, stays None once the prompt is known to fit). `prompt_tokens` is the prompt's
    count when known; its bound otherwise.

    Raises ContextTooLong (not sent) when what is left is below `min_answer_tokens`: the answer would
    be cut off before it could hold the rewritten chunk.
    """
    prompt = prompt_tokens_upper(messages) if prompt_tokens is None else prompt_tokens
    room = context_tokens - prompt
    if room < max(min_answer_tokens, 1):
        raise ContextTooLong(
            f"not sent: the prompt (about {prompt:,} tokens) leaves {max(room, 0):,} of the "
            f"{context_tokens:,}-token context window for an answer that needs about "
            f"{min_answer_tokens:,}",
            sent=False,
        )
    return None if max_tokens is None else min(max_tokens, room)
