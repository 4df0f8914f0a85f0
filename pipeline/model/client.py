"""ChatClient: one chat request in, a Completion or a typed error out, over one httpx client.

Speaks the OpenAI-compatible `POST {base_url}/chat/completions` of the AI/ML API (MiniMax-M2.1) and
of any other compatible server (MiniMax, vLLM, SGLang, Ollama, llama.cpp). Sends only the fields the
AI/ML API schema accepts, retries transient failures with full-jitter exponential backoff inside a
total-wait budget, holds a limiter slot per HTTP attempt (released before each backoff sleep), and
never lets the API key into a repr, log or error. Every attempt has a total deadline and a cap on
its decoded body, both in proportion to its max_tokens (limits), so no server can hold a run or its
memory. Its helpers each have a module: settings and the JSON body (request), the answer types
(completion), the bounds (limits), reading bodies under a cap (body), reading answers and errors
(responses), the SSE reader (sse) and the pool (transport).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from types import TracebackType
from typing import Any

import httpx

from pipeline.config import (
    DEFAULT_CONCURRENCY,
)
from pipeline.model.attempts import OK, Attempt, AttemptObserver, attempt_tokens
from pipeline.model.body import ACCEPT_ENCODING, decoded, read_capped, read_error_text
from pipeline.model.breaker import CircuitBreaker
from pipeline.model.completion import Completion
from pipeline.model.context import fit_max_tokens, measure
from pipeline.model.errors import (
    CodemillModelError,
    ConnectionDropped,
    DeadlineExceeded,
    ModelTimeout,
    NotSent,
    RetriesExhausted,
    RetryableModelError,
    StreamCut,
)
from pipeline.model.limiter import Limiter
from pipeline.model.limits import ERROR_BODY_BYTES, AnswerLimits
from pipeline.model.request import ModelSettings, build_request_body
from pipeline.model.responses import (
    check_base_resp,
    completion_from_body,
    json_object,
    status_error,
)
from pipeline.model.sse import StreamState, lines
from pipeline.model.tokens import TokenCounter
from pipeline.model.transport import ShardedTransport
from pipeline.redact import redact

log = logging.getLogger("codemill.model")

Sleep = Callable[[float], Awaitable[None]]


def _admitted(admit: Callable[[], str | None] | None) -> None:
    """Raise NotSent when the caller's admission check refuses."""
    why = admit() if admit is not None else None
    if why is not None:
        raise NotSent(why)


class ChatClient:
    """Async context manager owning ONE httpx.AsyncClient for the run; `complete` is concurrent."""

    def __init__(
        self,
        settings: ModelSettings,
        *,
        api_key: str | None,
        limiter: Limiter | None = None,
        breaker: CircuitBreaker | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        observer: AttemptObserver | None = None,
    ) -> None:
        if settings.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {settings.max_attempts}")
        self.settings = settings
        self.limiter = limiter
        self.breaker = breaker or CircuitBreaker()
        self._api_key = api_key
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._observer = observer  # told of every attempt as it ends (live display)
        self._url = settings.base_url.rstrip("/") + "/chat/completions"
        pool = settings.pool_size or (limiter.concurrency if limiter else DEFAULT_CONCURRENCY)
        headers = {
            "User-Agent": "codemill/0.1",
            "Accept": "application/json",
            "Accept-Encoding": ACCEPT_ENCODING,  # what pipeline.model.body inflates
        }
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.AsyncClient(
            transport=transport or ShardedTransport(pool),
            headers=headers,
            timeout=httpx.Timeout(
                settings.read_timeout, connect=settings.connect_timeout, pool=None
            ),
        )
        # The server's tokenizer, over the same connections: asked only when a bound is too close.
        self.counter = TokenCounter(self._http, settings.base_url, settings.model)

    def __repr__(self) -> str:
        key = "set" if self._api_key else "none"
        return f"ChatClient(url={self._url!r}, model={self.settings.model!r}, api_key={key})"

    async def __aenter__(self) -> ChatClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._http.aclose()

    async def complete(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        admit: Callable[[], str | None] | None = None,
        answer_for: str = "",
        on_attempt: AttemptObserver | None = None,
    ) -> Completion:
        """Send one chat request, retrying transient failures; a Completion or a typed error.

        `admit`, when given, is asked once a limiter slot is held, before each attempt: a reason string
        refuses the attempt (NotSent). Asking then, not before queueing, is what makes a run-wide cost
        limit or stop exact even when hundreds of requests wait for a slot. `max_tokens` is lowered so
        the prompt and the answer fit the context window; ContextTooLong (nothing sent) when the room
        left cannot hold `answer_for` (the chunk) rewritten. `on_attempt` hears of every HTTP attempt.
        """
        body, estimate = await self._prepare(
            messages, max_tokens, answer_for, temperature, top_p, seed
        )
        request_id, sent = uuid.uuid4().hex, body.get("max_tokens")
        asked = (request_id, sent)  # what an attempt's record says was asked: max_tokens as sent
        limits = AnswerLimits.of(self.settings, sent, stream=bool(body.get("stream")))
        waited, attempt, began = 0.0, 0, time.monotonic()
        while True:
            attempt += 1
            sent_at: list[float] = []  # when the attempt got its slot and was sent
            self.breaker.check()
            try:
                completion = await self._attempt_with_slot(
                    body, (request_id, answer_for), estimate, admit, sent_at
                )
            except RetryableModelError as error:
                last = error
            except NotSent:
                raise
            except CodemillModelError as error:
                self._tell(on_attempt, asked, attempt, sent_at, error, retried=False)
                raise
            else:
                return self._answered(on_attempt, asked, attempt, sent_at, completion)
            # Another attempt only if it could run to its deadline within the request's total time.
            left = limits.total - (time.monotonic() - began) - limits.deadline
            waited += await self._wait_to_retry(
                last, on_attempt, asked, attempt, sent_at, waited, left
            )

    def _answered(
        self,
        on_attempt: AttemptObserver | None,
        asked: tuple[str, int | None],
        attempt: int,
        sent_at: list[float],
        completion: Completion,
    ) -> Completion:
        """The answer, once its attempt is told and the limiter knows it went well."""
        self._tell(on_attempt, asked, attempt, sent_at, completion, retried=False)
        if self.limiter is not None:
            self.limiter.on_success()
        return completion

    async def _prepare(
        self,
        messages: Sequence[Mapping[str, str]],
        max_tokens: int | None,
        answer_for: str,
        temperature: float | None,
        top_p: float | None,
        seed: int | None,
    ) -> tuple[dict[str, Any], int]:
        """The request body (max_tokens fitted to the context window) and its token estimate."""
        window = self.settings.context_tokens
        prompt, floor = await measure(messages, answer_for, max_tokens, window, self.counter)
        max_tokens = fit_max_tokens(messages, max_tokens, window, floor, prompt_tokens=prompt)
        body = build_request_body(
            self.settings,
            messages,
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=top_p,
            seed=seed,
        )
        estimate = sum(len(m.get("content") or "") for m in messages) // 4 + (max_tokens or 0)
        return body, estimate

    async def _wait_to_retry(
        self,
        last: RetryableModelError,
        on_attempt: AttemptObserver | None,
        asked: tuple[str, int | None],
        attempt: int,
        sent_at: list[float],
        waited: float,
        left: float,
    ) -> float:
        """Sleep the backoff before the next attempt and return it; RetriesExhausted past the attempt
        or wait budget, or when the next attempt could outlast the request's total time (`left`)."""
        if last.rate_limited and self.limiter is not None:
            self.limiter.on_rate_limited()
        delay = self._backoff(attempt, last.retry_after)
        retry = (
            attempt < self.settings.max_attempts
            and waited + delay <= self.settings.max_total_wait
            and delay <= left
        )
        self._tell(on_attempt, asked, attempt, sent_at, last, retried=retry)
        if not retry:
            raise RetriesExhausted(last, attempt)
        log.warning(
            "model request %s attempt %d failed, retrying in %.2f s: %s",
            asked[0],
            attempt,
            delay,
            last,
        )
        self.breaker.check()
        await self._sleep(delay)
        return delay

    def _tell(
        self,
        on_attempt: AttemptObserver | None,
        asked: tuple[str, int | None],
        number: int,
        sent_at: list[float],
        ended: Completion | CodemillModelError,
        *,
        retried: bool,
    ) -> None:
        """Report one ended attempt (its answer or its error) to the request's and the client's
        observers."""
        now = time.monotonic()
        record = Attempt(
            asked[0],
            number,
            now - (sent_at[-1] if sent_at else now),
            OK if isinstance(ended, Completion) else type(ended).__name__,
            "" if isinstance(ended, Completion) else str(ended),
            retried,
            max_tokens=asked[1],
            **attempt_tokens(ended),
        )
        for observer in (on_attempt, self._observer):
            if observer is not None:
                observer(record)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """Full jitter: uniform(0, min(cap, base * 2**(attempt-1))); a server's Retry-After wins."""
        if retry_after is not None:
            return retry_after
        ceiling = min(self.settings.backoff_cap, self.settings.backoff_base * 2 ** (attempt - 1))
        return self._rng.uniform(0.0, ceiling)

    async def _attempt_with_slot(
        self,
        body: Mapping[str, Any],
        request: tuple[str, str],
        estimate: int,
        admit: Callable[[], str | None] | None,
        sent_at: list[float],
    ) -> Completion:
        if self.limiter is None:
            _admitted(admit)
            sent_at.append(time.monotonic())
            return await self._attempt(body, request)
        async with self.limiter.slot(estimate):
            _admitted(admit)
            sent_at.append(time.monotonic())
            return await self._attempt(body, request)

    async def _attempt(self, body: Mapping[str, Any], request: tuple[str, str]) -> Completion:
        """One HTTP attempt within its total deadline, its transport failures mapped to typed errors
        (key redacted). `request` is its id and the chunk it rewrites (a stream's loop reference)."""
        started = time.monotonic()
        streamed = bool(body.get("stream"))
        limits = AnswerLimits.of(self.settings, body.get("max_tokens"), stream=streamed)
        try:
            async with asyncio.timeout(limits.deadline):
                return await self._exchange(body, request, limits, started)
        except TimeoutError:
            raise DeadlineExceeded(limits.deadline) from None
        except httpx.ConnectTimeout as exc:
            self.breaker.unreachable(type(exc).__name__)
            raise ModelTimeout(type(exc).__name__) from None
        except httpx.TimeoutException as exc:
            raise ModelTimeout(type(exc).__name__) from None
        except (httpx.TransportError, httpx.StreamError) as exc:
            detail = redact(f"{type(exc).__name__}: {exc}".rstrip(": "), self._api_key)
            if isinstance(exc, httpx.ConnectError):
                self.breaker.unreachable(detail)
            if streamed and isinstance(exc, httpx.RemoteProtocolError):
                raise StreamCut(detail) from None
            raise ConnectionDropped(detail) from None

    async def _exchange(
        self,
        body: Mapping[str, Any],
        request: tuple[str, str],
        limits: AnswerLimits,
        started: float,
    ) -> Completion:
        """Send the request and read its answer, no more of the body than `limits` allow."""
        headers = {"x-client-request-id": request[0]}
        read = self.settings.read_timeout
        if body.get("stream"):
            headers["Accept"] = "text/event-stream"
            read = self.settings.stream_idle_timeout
        timeout = httpx.Timeout(read, connect=self.settings.connect_timeout, pool=None)
        async with self._http.stream(
            "POST", self._url, json=body, headers=headers, timeout=timeout
        ) as response:
            self.breaker.reached()
            if response.status_code != 200:
                text = await read_error_text(response, ERROR_BODY_BYTES)
                raise self._redacted(status_error(response, text, self.settings.api_key_env))
            if body.get("stream"):
                return await self._read_stream(response, limits, started, request[1])
            raw = await read_capped(response, limits.body_bytes, limits.body_too_large)
        data = json_object(raw, "the body")
        try:
            check_base_resp(data, self.settings.api_key_env)
        except CodemillModelError as error:
            raise self._redacted(error) from None
        return completion_from_body(data, response.headers, started, limits)

    def _redacted(self, error: CodemillModelError) -> CodemillModelError:
        """The same error with the key masked out of its message, should a server echo it."""
        if self._api_key and self._api_key in str(error):
            error.args = (redact(str(error), self._api_key),)
        return error

    async def _read_stream(
        self, response: httpx.Response, limits: AnswerLimits, started: float, reference: str
    ) -> Completion:
        """Read an SSE answer; the idle timeout restarts at every event (the deadline does not). A
        looping answer is cut off there (`reference`, the chunk asked about, excuses its own runs)."""
        idle = self.settings.stream_idle_timeout
        state = StreamState(self.settings.api_key_env, limits, reference)
        loop = asyncio.get_running_loop()
        body = lines(decoded(response, limits.body_bytes, limits.body_too_large))
        try:
            async with aclosing(body), asyncio.timeout(idle) as silence:
                async for line in body:
                    try:
                        event = state.feed_line(line)
                    except CodemillModelError as error:
                        raise self._redacted(error) from None
                    if state.looping:  # stop generating: leaving closes the connection
                        break
                    if event:
                        silence.reschedule(loop.time() + idle)
        except TimeoutError:
            raise ModelTimeout(f"no stream event for {idle:g} s") from None
        return state.completion(response.headers, started)
