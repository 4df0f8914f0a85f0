"""The server-sent-events reader: a streamed chat answer's `data:` lines in, one Completion out.

Kept apart from the client so the stream format (data lines, [DONE], deltas, a late usage or cost event)
is read in one place. It raises typed errors unredacted; the client masks the key before they leave it.
"""

from __future__ import annotations

import codecs
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any

import httpx

from pipeline.judge.looping import LoopWatch
from pipeline.model.completion import Completion, Usage
from pipeline.model.errors import ConnectionDropped
from pipeline.model.limits import AnswerLimits
from pipeline.model.responses import (
    check_base_resp,
    json_object,
    parse_cost,
    parse_usage,
    split_reasoning,
    stream_error,
)

_EOL = re.compile(r"\r\n|\r|\n")


async def lines(pieces: AsyncIterator[bytes]) -> AsyncGenerator[str, None]:
    """The text lines of a body given in pieces (any of CR LF, CR, LF ends one); a CR LF split
    across two pieces gives an extra blank line, which SSE ignores. Each piece is scanned once."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    pending: list[str] = []  # the start of a line not ended yet
    async for piece in pieces:
        *complete, rest = _EOL.split(decoder.decode(piece))
        if complete:
            complete[0] = "".join(pending) + complete[0]
            pending.clear()
            for line in complete:
                yield line
        pending.append(rest)
    last = "".join(pending) + decoder.decode(b"", final=True)
    if last:
        yield last


class StreamState:
    """Accumulates SSE chunks; think tags split across events are resolved once, at the end."""

    def __init__(
        self, env_var: str, limits: AnswerLimits | None = None, reference: str = ""
    ) -> None:
        self.env_var = env_var  # the key's variable NAME, for an authentication error's hint
        self.limits = limits  # the answer's size is checked as it grows
        self.watch = LoopWatch(reference)  # and its tail for a loop (reference: the chunk asked)
        self.size = 0  # characters of content and reasoning so far
        self.parts: list[str] = []
        self.reasoning_parts: list[str] = []
        self.finish_reason: str | None = None
        self.usage = Usage(unreported=1)  # until an event carries usage (not all servers send one)
        self.last: Mapping[str, Any] = {}
        self.model: str | None = None
        self.done = False

    def feed_line(self, line: str) -> bool:
        """Take one line of the stream; True when it was an event (which restarts the idle timer)."""
        # Blank separators, comments and `event:` lines carry nothing; lines after [DONE] are read
        # (not broken off) by the caller so the connection goes back to the pool.
        if not self.done and line.startswith("error:"):  # llama.cpp's failure of a begun stream
            raise stream_error(line[6:].strip())
        if self.done or not line.startswith("data:"):
            return False
        payload = line[5:].strip()
        if payload == "[DONE]":
            self.done = True
        else:
            self.feed(payload)
        return True

    def feed(self, payload: str) -> None:
        """Fold one event's JSON into the answer; a typed error for an error or malformed event."""
        event = json_object(payload, "a stream event")
        if "error" in event:
            raise stream_error(payload)
        check_base_resp(event, self.env_var)
        if isinstance(event.get("model"), str):
            self.model = event["model"]
        if event.get("usage"):
            self.usage = parse_usage(event["usage"])
        if event.get("meta"):
            self.last = event
        for choice in event.get("choices") or []:
            if not isinstance(choice, Mapping):
                continue
            delta = choice.get("delta") or {}
            if isinstance(delta, Mapping):
                self._take_delta(delta)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]

    def _take_delta(self, delta: Mapping[str, Any]) -> None:
        """Add one delta's content and separate reasoning; AnswerTooLarge once they outgrow the limit."""
        content = delta.get("content")
        if isinstance(content, str):
            self.parts.append(content)
            self.size += len(content)
            self.watch.feed(content)
        extra = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(extra, str):
            self.reasoning_parts.append(extra)
            self.size += len(extra)
            self.watch.feed(extra)
        if self.limits is not None:
            self.limits.check_chars(self.size)

    @property
    def looping(self) -> bool:
        """True once the answer's tail loops: the reader stops the stream there."""
        return self.watch.reason is not None

    def completion(self, headers: httpx.Headers, started: float) -> Completion:
        """The whole answer; ConnectionDropped if the stream ended before [DONE] or a finish reason.

        A stream stopped for looping is an answer cut off (`length`): the judge finds the loop again."""
        if self.looping:
            self.finish_reason = "length"
        elif not self.done and self.finish_reason is None:
            raise ConnectionDropped("the stream ended before the answer was complete")
        content = "".join(self.parts)
        reasoning, answer = split_reasoning(content, "".join(self.reasoning_parts))
        usd, credits = parse_cost(self.last, headers)
        return Completion(
            content=content,
            reasoning=reasoning,
            answer=answer,
            finish_reason=self.finish_reason,
            usage=self.usage,
            cost_usd=usd,
            credits=credits,
            request_id=headers.get("x-inference-id"),
            latency_s=time.monotonic() - started,
            model=self.model,
        )
