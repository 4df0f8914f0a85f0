"""The server-sent-events reader: a streamed chat answer's `data:` lines in, one Completion out.

Kept apart from the client so the stream format (data lines, [DONE], deltas, a late usage or cost event)
is read in one place. It raises typed errors unredacted; the client masks the key before they leave it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import httpx

from pipeline.model.completion import Completion, Usage
from pipeline.model.errors import ConnectionDropped, MalformedResponse, ServerError
from pipeline.model.responses import (
    check_base_resp,
    error_message,
    parse_cost,
    parse_usage,
    split_reasoning,
)


class StreamState:
    """Accumulates SSE chunks; think tags split across events are resolved once, at the end."""

    def __init__(self, env_var: str) -> None:
        self.env_var = env_var  # the key's variable NAME, for an authentication error's hint
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
        try:
            event = json.loads(payload)
        except ValueError:
            raise MalformedResponse("a stream event is not JSON") from None
        if not isinstance(event, Mapping):
            raise MalformedResponse("a stream event is not a JSON object")
        if "error" in event:
            raise ServerError(200, error_message(payload))
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
                if isinstance(delta.get("content"), str):
                    self.parts.append(delta["content"])
                extra = delta.get("reasoning_content") or delta.get("reasoning")
                if isinstance(extra, str):
                    self.reasoning_parts.append(extra)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]

    def completion(self, headers: httpx.Headers, started: float) -> Completion:
        """The whole answer; ConnectionDropped if the stream ended before [DONE] or a finish reason."""
        if not self.done and self.finish_reason is None:
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
