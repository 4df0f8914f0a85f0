"""Reading the provider's answers: usage, cost, Retry-After, MiniMax base_resp and error bodies.

Pure functions from response bodies and headers to a Completion or a typed error, so the client only
decides what to send and when to retry. They never see the API key: the client redacts what they raise.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from pipeline.judge.thinking import split_think
from pipeline.model.completion import Completion, Usage
from pipeline.model.errors import (
    AUTH_BASE_CODES,
    CREDIT_BASE_CODES,
    REJECTED_BASE_CODES,
    RETRYABLE_BASE_CODES,
    AuthenticationError,
    BadRequest,
    CodemillModelError,
    ContextTooLong,
    InsufficientCredits,
    MalformedResponse,
    ModelTimeout,
    ProviderBusy,
    RateLimited,
    RequestRejected,
    ServerError,
)
from pipeline.model.limits import AnswerLimits

# How servers say "too long for the context" (issue 24; recorded bodies in tests/data/servers): llama.cpp's
# 400 "the request exceeds the available context size" (`exceed_context_size_error` in newer builds), its
# 500 "Input prompt is too big compared to KV size" (after filling its cache) and "context shift is
# disabled"; vLLM's 400 "This model's maximum context length is N tokens"; Ollama's "input exceeds context
# length"; OpenAI's `context_length_exceeded`; others' "prompt is too long" / "too many tokens". No retry
# can fix one: the chunk ends `too-long` at once, whatever the status.
_CONTEXT_WORDS = re.compile(
    r"context[ _](length|size|window)|exceed_context_size|maximum context|prompt is too long"
    r"|too many tokens|token limit|max_tokens must be (at most|less)|compared to KV size"
    r"|KV cache is full|context shift is disabled|exceeds? (the )?context length",
    re.IGNORECASE,
)
TOO_LONG_STATUSES = frozenset({400, 413, 422, 500, 503})


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


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def parse_usage(raw: Any) -> Usage:
    """Usage from an OpenAI-style `usage` object.

    A missing object (vLLM or Ollama streams without include_usage), or one without prompt or completion
    counts, is marked `unreported`: what is known is kept, the rest is unknown, not zero. The detail
    objects (reasoning, cached) are optional everywhere: their absence means none.
    """
    if not isinstance(raw, Mapping):
        return Usage(unreported=1)
    prompt, completion = _count(raw.get("prompt_tokens")), _count(raw.get("completion_tokens"))
    completion_details = raw.get("completion_tokens_details")
    prompt_details = raw.get("prompt_tokens_details")
    total = _count(raw.get("total_tokens"))
    return Usage(
        prompt_tokens=prompt or 0,
        completion_tokens=completion or 0,
        reasoning_tokens=_int(completion_details.get("reasoning_tokens"))
        if isinstance(completion_details, Mapping)
        else 0,
        cached_tokens=_int(prompt_details.get("cached_tokens"))
        if isinstance(prompt_details, Mapping)
        else 0,
        total_tokens=total if total is not None else (prompt or 0) + (completion or 0),
        unreported=int(prompt is None or completion is None),
    )


def parse_cost(
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


def json_object(text: str | bytes, what: str) -> Mapping[str, Any]:
    """The JSON object `text` holds; MalformedResponse naming `what` when it is not JSON, not an
    object, or nested too deeply to parse (json raises RecursionError past ~1,000 levels)."""
    try:
        data = json.loads(text)
    except ValueError:
        raise MalformedResponse(f"{what} is not JSON, {len(text):,} bytes") from None
    except RecursionError:
        raise MalformedResponse(f"{what} is JSON nested too deeply to read") from None
    if not isinstance(data, Mapping):
        raise MalformedResponse(f"{what} is not a JSON object")
    return data


def error_message(response_text: str) -> str:
    """The provider's message from an error body (AI/ML API or OpenAI style), else an excerpt."""
    try:
        body = json.loads(response_text)
    except (ValueError, RecursionError):
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


def check_base_resp(body: Mapping[str, Any], env_var: str) -> None:
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
    if code == 1039:
        raise ContextTooLong(f"the provider refused the request with error 1039 ({message})")
    if code in REJECTED_BASE_CODES:
        raise RequestRejected(code, message)
    if code in RETRYABLE_BASE_CODES:
        raise ProviderBusy(code, message)
    # An undocumented code: treat it as transient, the retry budget bounds the cost.
    raise ProviderBusy(code, message)


def status_error(response: httpx.Response, text: str, env_var: str) -> CodemillModelError:
    """Map a non-200 HTTP status to its typed error."""
    status = response.status_code
    message = error_message(text)
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    if status == 429:
        return RateLimited(retry_after, message)
    if status == 401:
        return AuthenticationError(env_var, "401")
    if status == 403:
        return InsufficientCredits(f"403: {message}" if message else "403")
    if status == 408:
        return ModelTimeout("HTTP 408")
    if status in TOO_LONG_STATUSES and _CONTEXT_WORDS.search(text):
        return ContextTooLong(f"the server refused the request (HTTP {status}: {message})")
    if status >= 500:
        return ServerError(status, message, retry_after)
    return BadRequest(status, message)


def stream_error(payload: str) -> CodemillModelError:
    """The typed error of a stream's error event: llama.cpp fails a stream it has begun (HTTP 200)
    with an `error:` line, others with a `data:` event holding `error`; an overflow is ContextTooLong."""
    message = error_message(payload)
    if _CONTEXT_WORDS.search(payload):
        return ContextTooLong(f"the server refused the request in its stream ({message})")
    return ServerError(200, message)


def split_reasoning(content: str, separate_reasoning: str) -> tuple[str, str]:
    """(reasoning, answer): from a separate reasoning field, if any, and think tags."""
    split = split_think(content)
    reasoning = "\n".join(part for part in (separate_reasoning.strip(), split.reasoning) if part)
    return reasoning, split.answer


def completion_from_body(
    data: Mapping[str, Any],
    headers: httpx.Headers,
    started: float,
    limits: AnswerLimits | None = None,
) -> Completion:
    """The Completion in a non-streamed answer's JSON body; MalformedResponse if it has none, and
    AnswerTooLarge (the answer's cost kept) if it is longer than `limits` allow."""
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
    separate = separate if isinstance(separate, str) else ""
    reasoning, answer = split_reasoning(content, separate)
    usd, credits = parse_cost(data, headers)
    completion = Completion(
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
    if limits is not None:
        limits.check_chars(len(content) + len(separate), completion)
    return completion
