"""ChatClient: one chat request in, a Completion or a typed error out, over one httpx client.

Speaks the OpenAI-compatible `POST {base_url}/chat/completions` of the AI/ML API (MiniMax-M2.1) and
of any other compatible server (MiniMax, vLLM, SGLang, Ollama, llama.cpp). Sends only the fields the
AI/ML API schema accepts, retries transient failures with full-jitter exponential backoff inside a
total-wait budget, holds a limiter slot per HTTP attempt (released before each backoff sleep), and
never lets the API key into a repr, log or error.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any

import httpx

from pipeline.errors import (
    AUTH_BASE_CODES,
    CREDIT_BASE_CODES,
    REJECTED_BASE_CODES,
    RETRYABLE_BASE_CODES,
    AuthenticationError,
    BadRequest,
    CodemillModelError,
    ConnectionDropped,
    InsufficientCredits,
    MalformedResponse,
    ModelTimeout,
    NotSent,
    ProviderBusy,
    RateLimited,
    RequestRejected,
    RetriesExhausted,
    RetryableModelError,
    ServerError,
)
from pipeline.limiter import Limiter
from pipeline.redact import redact
from pipeline.thinking import split_think

log = logging.getLogger("codemill.model")

ROLES = frozenset({"system", "user", "assistant", "tool"})
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class ModelSettings:
    """Where and how to call the model; holds the NAME of the key's env variable, never the key."""

    base_url: str = "https://api.aimlapi.com/v1"
    model: str = "minimax/m2-1"
    api_key_env: str = "AIMLAPI_API_KEY"
    connect_timeout: float = 10.0
    read_timeout: float = 600.0  # a long generation sends nothing for minutes
    stream_idle_timeout: float = 120.0  # longest silence between two stream events
    max_attempts: int = 6
    max_total_wait: float = 300.0  # cap on the backoff sleep summed over a request's attempts
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    stream: bool = False
    pool_size: int | None = None  # connections kept; default: the limiter's concurrency (or 16)


@dataclass(frozen=True)
class Usage:
    """Token counts as the provider reported them."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    cached_tokens: int = 0
    total_tokens: int = 0


@dataclass(frozen=True)
class Completion:
    """One model answer: raw content, its think/answer split, why it stopped, and what it cost."""

    content: str
    reasoning: str
    answer: str
    finish_reason: str | None
    usage: Usage = field(default_factory=Usage)
    cost_usd: float | None = None
    credits: float | None = None
    request_id: str | None = None
    latency_s: float = 0.0
    model: str | None = None
    from_cache: bool = False

    def to_json(self) -> str:
        """Serialise for the response cache."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Completion:
        """Rebuild from `to_json` output."""
        data = json.loads(text)
        data["usage"] = Usage(**data.get("usage") or {})
        return cls(**data)


def api_key_from_env(settings: ModelSettings) -> str | None:
    """The key from the environment variable the settings name, or None when unset or blank."""
    value = os.environ.get(settings.api_key_env, "").strip()
    return value or None


def build_request_body(
    settings: ModelSettings,
    messages: Sequence[Mapping[str, str]],
    *,
    max_tokens: int | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    stream: bool | None = None,
) -> dict[str, Any]:
    """The JSON body: only fields the provider accepts (no stop/n/top_k/max_completion_tokens)."""
    if not messages:
        raise ValueError("a chat request needs at least one message")
    out_messages: list[dict[str, str]] = []
    for index, message in enumerate(messages):
        role = message.get("role")
        content = message.get("content")
        if role not in ROLES:
            raise ValueError(f"message {index} has role {role!r}; expected one of {sorted(ROLES)}")
        if not isinstance(content, str):
            raise ValueError(f"message {index} ({role}) has no text content")
        out_messages.append(dict(message))
    body: dict[str, Any] = {"model": settings.model, "messages": out_messages}
    if max_tokens is not None:
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
        body["max_tokens"] = max_tokens
    if temperature is not None:
        if not 0 <= temperature <= 2:
            raise ValueError(f"temperature must be within 0..2, got {temperature}")
        body["temperature"] = temperature
    if top_p is not None:
        if not 0.01 <= top_p <= 1:
            raise ValueError(f"top_p must be within 0.01..1, got {top_p}")
        body["top_p"] = top_p
    if seed is not None:
        if seed < 1:
            raise ValueError(f"seed must be at least 1, got {seed}")
        body["seed"] = seed
    if settings.stream if stream is None else stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After value (seconds or an HTTP date); None if absent or bad."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def parse_usage(raw: Any) -> Usage:
    """Usage from an OpenAI-style `usage` object; missing or null fields count as 0."""
    if not isinstance(raw, Mapping):
        return Usage()
    completion_details = raw.get("completion_tokens_details")
    prompt_details = raw.get("prompt_tokens_details")
    return Usage(
        prompt_tokens=_int(raw.get("prompt_tokens")),
        completion_tokens=_int(raw.get("completion_tokens")),
        reasoning_tokens=_int(completion_details.get("reasoning_tokens"))
        if isinstance(completion_details, Mapping)
        else 0,
        cached_tokens=_int(prompt_details.get("cached_tokens"))
        if isinstance(prompt_details, Mapping)
        else 0,
        total_tokens=_int(raw.get("total_tokens")),
    )


def _cost(
    body: Mapping[str, Any], headers: httpx.Headers | None
) -> tuple[float | None, float | None]:
    """(usd, credits) from `meta.usage` in the body, else from the x-aimlapi-* headers."""
    meta = body.get("meta")
    usage = meta.get("usage") if isinstance(meta, Mapping) else None
    usd = credits = None
    if isinstance(usage, Mapping):
        usd, credits = _float(usage.get("usd_spent")), _float(usage.get("credits_used"))
    if headers is not None:
        if usd is None:
            usd = _float(headers.get("x-aimlapi-usd-spent"))
        if credits is None:
            credits = _float(headers.get("x-aimlapi-credits-used"))
    return usd, credits


def _error_message(response_text: str) -> str:
    """The provider's message from an error body (AI/ML API or OpenAI style), else an excerpt."""
    try:
        body = json.loads(response_text)
    except ValueError:
        return " ".join(response_text.split())[:200]
    if isinstance(body, Mapping):
        message = body.get("message")
        error = body.get("error")
        if message is None and isinstance(error, Mapping):
            message = error.get("message")
        elif message is None and isinstance(error, str):
            message = error
        if message is not None:
            return str(message if not isinstance(message, list) else "; ".join(map(str, message)))
    return " ".join(response_text.split())[:200]


def _check_base_resp(body: Mapping[str, Any], env_var: str) -> None:
    """Raise the typed error for an HTTP 200 whose MiniMax `base_resp.status_code` is not 0."""
    base = body.get("base_resp")
    if not isinstance(base, Mapping):
        return
    code = _int(base.get("status_code"))
    if code == 0:
        return
    message = str(base.get("status_msg") or "")
    if code in AUTH_BASE_CODES:
        raise AuthenticationError(env_var, f"provider code {code}")
    if code in CREDIT_BASE_CODES:
        raise InsufficientCredits(f"provider code {code}")
    if code in REJECTED_BASE_CODES:
        raise RequestRejected(code, message)
    if code in RETRYABLE_BASE_CODES:
        raise ProviderBusy(code, message)
    # An undocumented code: treat it as transient, the retry budget bounds the cost.
    raise ProviderBusy(code, message)


def _status_error(response: httpx.Response, text: str, env_var: str) -> CodemillModelError:
    """Map a non-200 HTTP status to its typed error."""
    status = response.status_code
    message = _error_message(text)
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    if status == 429:
        return RateLimited(retry_after, message)
    if status == 401:
        return AuthenticationError(env_var, "401")
    if status == 403:
        return InsufficientCredits(f"403: {message}" if message else "403")
    if status == 408:
        return ModelTimeout("HTTP 408")
    if status >= 500:
        return ServerError(status, message, retry_after)
    return BadRequest(status, message)


def _split(content: str, separate_reasoning: str) -> tuple[str, str]:
    """(reasoning, answer): from a separate reasoning field, if any, and think tags."""
    split = split_think(content)
    reasoning = "\n".join(part for part in (separate_reasoning.strip(), split.reasoning) if part)
    return reasoning, split.answer


class _ShardedTransport(httpx.AsyncBaseTransport):
    """Small connection pools, each request to the least busy: one big httpcore pool costs
    O(connections^2) CPU per request (encode/httpcore#1035; 64 connections ran 3.5x over ideal)."""

    def __init__(self, pool: int, shard_size: int = 8) -> None:
        count = max(1, -(-pool // shard_size))
        per_shard = -(-pool // count)
        limits = httpx.Limits(max_connections=per_shard, max_keepalive_connections=per_shard)
        ssl_context = httpx.create_ssl_context()  # one CA bundle load, not one per shard
        self._shards = [
            httpx.AsyncHTTPTransport(verify=ssl_context, limits=limits) for _ in range(count)
        ]
        self._busy = [0] * count

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        index = min(range(len(self._shards)), key=self._busy.__getitem__)
        self._busy[index] += 1
        try:
            response = await self._shards[index].handle_async_request(request)
        except BaseException:
            self._busy[index] -= 1
            raise
        stream = response.stream
        assert isinstance(stream, httpx.AsyncByteStream)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_ReleasingStream(stream, lambda: self._release(index)),
            extensions=response.extensions,
        )

    def _release(self, index: int) -> None:
        self._busy[index] -= 1

    async def aclose(self) -> None:
        for shard in self._shards:
            await shard.aclose()


class _ReleasingStream(httpx.AsyncByteStream):
    """A response body that tells its shard, once, when it is closed."""

    def __init__(self, stream: httpx.AsyncByteStream, on_close: Callable[[], None]) -> None:
        self._stream = stream
        self._on_close: Callable[[], None] | None = on_close

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if self._on_close is not None:
                self._on_close()
                self._on_close = None


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
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if settings.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {settings.max_attempts}")
        self.settings = settings
        self.limiter = limiter
        self._api_key = api_key
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._url = settings.base_url.rstrip("/") + "/chat/completions"
        pool = settings.pool_size or (limiter.concurrency if limiter else 16)
        headers = {"User-Agent": "codemill/0.1", "Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.AsyncClient(
            transport=transport or _ShardedTransport(pool),
            headers=headers,
            timeout=httpx.Timeout(
                settings.read_timeout, connect=settings.connect_timeout, pool=None
            ),
        )

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
    ) -> Completion:
        """Send one chat request, retrying transient failures; a Completion or a typed error.

        `admit`, when given, is asked once a limiter slot is held, before each attempt: a reason string
        refuses the attempt (NotSent). Asking then, not before queueing, is what makes a run-wide cost
        limit or stop exact even when hundreds of requests wait for a slot.
        """
        body = build_request_body(
            self.settings,
            messages,
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=top_p,
            seed=seed,
        )
        estimate = sum(len(m.get("content") or "") for m in messages) // 4 + (max_tokens or 0)
        request_id = uuid.uuid4().hex
        waited = 0.0
        attempt = 0
        while True:
            attempt += 1
            try:
                completion = await self._attempt_with_slot(body, request_id, estimate, admit)
            except RetryableModelError as error:
                last = error
            else:
                if self.limiter is not None:
                    self.limiter.on_success()
                return completion
            if last.rate_limited and self.limiter is not None:
                self.limiter.on_rate_limited()
            if attempt >= self.settings.max_attempts:
                raise RetriesExhausted(last, attempt)
            delay = self._backoff(attempt, last.retry_after)
            if waited + delay > self.settings.max_total_wait:
                raise RetriesExhausted(last, attempt)
            log.warning(
                "model request %s attempt %d failed, retrying in %.2f s: %s",
                request_id,
                attempt,
                delay,
                last,
            )
            await self._sleep(delay)
            waited += delay

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """Full jitter: uniform(0, min(cap, base * 2**(attempt-1))); a server's Retry-After wins."""
        if retry_after is not None:
            return retry_after
        ceiling = min(self.settings.backoff_cap, self.settings.backoff_base * 2 ** (attempt - 1))
        return self._rng.uniform(0.0, ceiling)

    async def _attempt_with_slot(
        self,
        body: Mapping[str, Any],
        request_id: str,
        estimate: int,
        admit: Callable[[], str | None] | None,
    ) -> Completion:
        if self.limiter is None:
            _admitted(admit)
            return await self._attempt(body, request_id)
        async with self.limiter.slot(estimate):
            _admitted(admit)
            return await self._attempt(body, request_id)

    async def _attempt(self, body: Mapping[str, Any], request_id: str) -> Completion:
        """One HTTP attempt, its transport failures mapped to typed errors (key redacted)."""
        started = time.monotonic()
        try:
            if body.get("stream"):
                return await self._attempt_stream(body, request_id, started)
            response = await self._http.post(
                self._url, json=body, headers={"x-client-request-id": request_id}
            )
            text = response.text
        except httpx.TimeoutException as exc:
            raise ModelTimeout(type(exc).__name__) from None
        except (httpx.TransportError, httpx.StreamError) as exc:
            detail = redact(f"{type(exc).__name__}: {exc}".rstrip(": "), self._api_key)
            raise ConnectionDropped(detail) from None
        if response.status_code != 200:
            raise self._redacted(_status_error(response, text, self.settings.api_key_env))
        try:
            data = json.loads(text)
        except ValueError:
            raise MalformedResponse(f"not JSON, {len(text)} bytes") from None
        if not isinstance(data, Mapping):
            raise MalformedResponse("the JSON body is not an object")
        self._check(data)
        return self._completion(data, response.headers, started)

    def _check(self, data: Mapping[str, Any]) -> None:
        try:
            _check_base_resp(data, self.settings.api_key_env)
        except CodemillModelError as error:
            raise self._redacted(error) from None

    def _redacted(self, error: CodemillModelError) -> CodemillModelError:
        """The same error with the key masked out of its message, should a server echo it."""
        if self._api_key and self._api_key in str(error):
            error.args = (redact(str(error), self._api_key),)
        return error

    def _completion(
        self, data: Mapping[str, Any], headers: httpx.Headers, started: float
    ) -> Completion:
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
            raise MalformedResponse("no choices in the answer")
        choice = choices[0]
        message = choice.get("message")
        if not isinstance(message, Mapping):
            raise MalformedResponse("the first choice has no message")
        content = message.get("content") or ""
        if not isinstance(content, str):
            raise MalformedResponse("the message content is not text")
        separate = message.get("reasoning_content") or message.get("reasoning") or ""
        reasoning, answer = _split(content, separate if isinstance(separate, str) else "")
        usd, credits = _cost(data, headers)
        return Completion(
            content=content,
            reasoning=reasoning,
            answer=answer,
            finish_reason=choice.get("finish_reason"),
            usage=parse_usage(data.get("usage")),
            cost_usd=usd,
            credits=credits,
            request_id=headers.get("x-inference-id"),
            latency_s=time.monotonic() - started,
            model=data.get("model") if isinstance(data.get("model"), str) else None,
        )

    async def _attempt_stream(
        self, body: Mapping[str, Any], request_id: str, started: float
    ) -> Completion:
        """Read an SSE answer; the idle timeout restarts at every event (no total timeout)."""
        idle = self.settings.stream_idle_timeout
        timeout = httpx.Timeout(idle, connect=self.settings.connect_timeout, pool=None)
        async with self._http.stream(
            "POST",
            self._url,
            json=body,
            headers={"x-client-request-id": request_id, "Accept": "text/event-stream"},
            timeout=timeout,
        ) as response:
            if response.status_code != 200:
                text = (await response.aread()).decode("utf-8", "replace")
                raise self._redacted(_status_error(response, text, self.settings.api_key_env))
            state = _StreamState()
            loop = asyncio.get_running_loop()
            try:
                async with asyncio.timeout(idle) as deadline:
                    async for line in response.aiter_lines():
                        # Blank separators, comments and `event:` lines carry nothing; lines after
                        # [DONE] are read (not broken off) so the connection goes back to the pool.
                        if state.done or not line.startswith("data:"):
                            continue
                        deadline.reschedule(loop.time() + idle)
                        payload = line[5:].strip()
                        if payload == "[DONE]":
                            state.done = True
                        else:
                            state.feed(payload, self)
            except TimeoutError:
                raise ModelTimeout(f"no stream event for {idle:g} s") from None
            if not state.done and state.finish_reason is None:
                raise ConnectionDropped("the stream ended before the answer was complete")
            return state.completion(response.headers, started)


class _StreamState:
    """Accumulates SSE chunks; think tags split across events are resolved once, at the end."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.reasoning_parts: list[str] = []
        self.finish_reason: str | None = None
        self.usage = Usage()
        self.last: Mapping[str, Any] = {}
        self.model: str | None = None
        self.done = False

    def feed(self, payload: str, client: ChatClient) -> None:
        try:
            event = json.loads(payload)
        except ValueError:
            raise MalformedResponse("a stream event is not JSON") from None
        if not isinstance(event, Mapping):
            raise MalformedResponse("a stream event is not a JSON object")
        if "error" in event:
            raise ServerError(200, redact(_error_message(payload), client._api_key))
        client._check(event)
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
        content = "".join(self.parts)
        reasoning, answer = _split(content, "".join(self.reasoning_parts))
        usd, credits = _cost(self.last, headers)
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
