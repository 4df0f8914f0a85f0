"""Fitting a request into the model's context window before it is sent: the prompt plus `max_tokens`
never exceed it (reasoning and the answer count against `max_tokens`, and a runaway generation on a
small local server then stops at the window instead of running into the read timeout).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pipeline.model.errors import ContextTooLong

# An upper bound, not a forecast: BPE tokenizers give 3-4.5 bytes of Python per token (small models'
# vocabularies the fewest), so 3 bytes per token over-counts for all of them.
BYTES_PER_TOKEN_UPPER = 3.0
MESSAGE_OVERHEAD_TOKENS = 8  # role markers and the chat template's tokens, per message


def prompt_tokens_upper(messages: Sequence[Mapping[str, str]]) -> int:
    """A generous bound on the prompt's tokens, from its UTF-8 size."""
    size = sum(len((m.get("content") or "").encode("utf-8")) for m in messages)
    return int(size / BYTES_PER_TOKEN_UPPER) + MESSAGE_OVERHEAD_TOKENS * len(messages) + 1


def fit_max_tokens(
    messages: Sequence[Mapping[str, str]],
    max_tokens: int | None,
    context_tokens: int,
    min_answer_tokens: int = 1,
) -> int | None:
    """The `max_tokens` to send: the asked one, lowered so prompt + answer fit the window (None, the
    server's default, stays None once the prompt is known to fit).

    Raises ContextTooLong (not sent) when what is left is below `min_answer_tokens`: the answer would
    be cut off before it could hold the rewritten chunk.
    """
    prompt = prompt_tokens_upper(messages)
    room = context_tokens - prompt
    if room < max(min_answer_tokens, 1):
        raise ContextTooLong(
            f"not sent: the prompt (about {prompt:,} tokens) leaves {max(room, 0):,} of the "
            f"{context_tokens:,}-token context window for an answer that needs about "
            f"{min_answer_tokens:,}",
            sent=False,
        )
    return None if max_tokens is None else min(max_tokens, room)
