"""The forges' HTTP: one httpx client per publish, the token in a header only, every write through the
write throttle, and rate-limit answers (429, or 403 naming a secondary rate limit) waited out and retried.

GitHub says to wait `retry-after` seconds when it is sent, else until `x-ratelimit-reset` when no request
is left, else at least a minute, doubling on each further refusal; GitLab sends `retry-after` on 429.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from pipeline.forge.errors import ForgeError, explain
from pipeline.forge.throttle import WriteThrottle
from pipeline.redact import redact, redact_text

WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})
MAX_ATTEMPTS = 5
MIN_BACKOFF = 60.0  # GitHub: "wait for at least one minute before retrying"
MAX_BACKOFF = 900.0


@dataclass
class Answer:
    """A forge's answer: its status and decoded JSON (None when it had no JSON body)."""

    status: int
    data: Any


class ForgeHttp:
    """Requests to one forge API with one token; the token never leaves the Authorization header."""

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        token: str,
        throttle: WriteThrottle,
        *,
        sleep: Callable[[float], None] = time.sleep,
        min_backoff: float = MIN_BACKOFF,
    ) -> None:
        self._client = httpx.Client(base_url=base_url, headers=dict(headers), timeout=30.0)
        self._token = token
        self.throttle = throttle
        self._sleep = sleep
        self._min_backoff = min_backoff
        self.waits: list[float] = []  # each rate-limit wait, in seconds (reported, and tested)

    def close(self) -> None:
        self._client.close()

    def call(self, method: str, url: str, what: str, **kwargs: Any) -> Answer:
        """One request, retried through rate limits; a refusal other than 404/409/422 raises ForgeError."""
        blind = 0  # refusals that said not how long to wait: a minute, doubling
        for _ in range(MAX_ATTEMPTS):
            response = self._send(method, url, what, kwargs)
            wait = self._rate_limit_wait(response, blind)
            if wait is None:
                return self._answer(response, what)
            blind += wait == self._blind_wait(blind)
            self.waits.append(wait)
            self._sleep(wait)
        raise ForgeError(f"{what}: the forge kept refusing for its rate limit; try again later")

    def _send(self, method: str, url: str, what: str, kwargs: dict[str, Any]) -> httpx.Response:
        """One request; a write inside its turn of the write limit."""
        try:
            if method not in WRITES:
                return self._client.request(method, url, **kwargs)
            with self.throttle.turn():
                return self._client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            reason = redact_text(f"{type(exc).__name__}: {exc}", [self._token])
            raise ForgeError(f"{what}: the forge cannot be reached ({reason})") from None

    def _blind_wait(self, blind: int) -> float:
        return float(min(MAX_BACKOFF, self._min_backoff * 2**blind))

    def _rate_limit_wait(self, response: httpx.Response, blind: int) -> float | None:
        """Seconds to wait before retrying a rate-limited answer; None when it is not one."""
        status, headers = response.status_code, response.headers
        after = str(headers.get("retry-after", "")).strip()
        limited = status == 429 or (
            status == 403
            and (
                "retry-after" in headers
                or headers.get("x-ratelimit-remaining") == "0"
                or "rate limit" in response.text.lower()
            )
        )
        if not limited:
            return None
        if after.isdigit():
            return float(after)
        if (
            headers.get("x-ratelimit-remaining") == "0"
            and headers.get("x-ratelimit-reset", "").isdigit()
        ):
            return max(1.0, float(headers["x-ratelimit-reset"]) - time.time())
        return self._blind_wait(blind)

    def _answer(self, response: httpx.Response, what: str) -> Answer:
        """The answer decoded, with the token masked wherever a forge echoed it back."""
        try:
            data = json.loads(redact(response.text, self._token)) if response.content else None
        except ValueError:
            data = None
        if response.status_code < 400 or response.status_code in (404, 409, 422):
            return Answer(response.status_code, data)
        message = _message(data) or response.reason_phrase
        raise ForgeError(redact_text(explain(response.status_code, message, what), [self._token]))


def _message(data: Any) -> str:
    """The forge's own words in an error body (GitHub: message + errors; GitLab: message or error)."""
    if not isinstance(data, dict):
        return ""
    parts = [str(data.get("message") or data.get("error") or "")]
    for error in data.get("errors") or []:
        parts.append(str(error.get("message", "")) if isinstance(error, dict) else str(error))
    return "; ".join(p for p in parts if p)


def message_of(answer: Answer) -> str:
    """The forge's words in a refused answer, for the caller that decides what a 404/409/422 means."""
    return _message(answer.data) or f"HTTP {answer.status}"


def ensure_ok(answer: Answer, what: str) -> None:
    """Raise the one-sentence ForgeError for an answer that is not a success."""
    if answer.status >= 300:
        raise ForgeError(explain(answer.status, message_of(answer), what))
