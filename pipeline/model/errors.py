"""Typed errors of the model client: what failed, and who pays: a retry, the chunk, or the run.

The hierarchy:

* CodemillModelError          every error the model client raises (under pipeline.errors.CodemillError)
  + RetryableModelError       worth another attempt after a backoff (the client retries these)
    - RateLimited             HTTP 429; `retry_after` when the server sent one
    - ServerError             HTTP 5xx (500, 502, 503, 504, ...)
    - ModelTimeout            connect/read/stream-idle timeout, HTTP 408
      - DeadlineExceeded      no whole answer within the attempt's total deadline (a trickle, an
                              endless stream)
    - ConnectionDropped       connection refused, reset, or closed before a full answer
      - StreamCut             a streamed answer cut off mid-way (servers that cancel concurrent streams)
    - MalformedResponse       HTTP 200 whose body is not OpenAI-compatible JSON
    - ProviderBusy            HTTP 200, retryable base_resp 1000 1001 1002 1024 1033 1041 2045
  + RequestRejected           this request only; the run goes on (base_resp 1026 1027 1039 2013)
    - ContextTooLong          the prompt and answer budget do not fit the model's context window:
                              HTTP 400 saying so, base_resp 1039, or found before sending (not sent)
  + FatalModelError           every later request would fail the same way: stop the run early
    - BadRequest              HTTP 400/404/422...: the provider refused the body or the URL
    - AuthenticationError     HTTP 401, base_resp 1004/2049: the API key is missing or refused
    - InsufficientCredits     HTTP 403, base_resp 1008/2056: no balance, or usage limit reached
  + AnswerTooLarge            the answer is longer than its max_tokens allows (or its body decodes
                              past the cap): this chunk is rejected `too-large`, never retried
  + RetriesExhausted          wraps the last retryable error once the attempt/wait budget is spent
  + NotSent                   the caller's admission check refused the request once it had a slot

Every `str()` is one sentence saying what happened and what to do; none ever contains the API key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pipeline.errors import CodemillError, ExitCode

if TYPE_CHECKING:
    from pipeline.model.completion import Completion

RETRYABLE_BASE_CODES = frozenset({1000, 1001, 1002, 1024, 1033, 1041, 2045})
RATE_BASE_CODES = frozenset({1002, 1041, 2045})
REJECTED_BASE_CODES = frozenset({1026, 1027, 1039, 2013})
AUTH_BASE_CODES = frozenset({1004, 2049})
CREDIT_BASE_CODES = frozenset({1008, 2056})


class CodemillModelError(CodemillError):
    """Base class of every error raised by the model client."""

    status_code: int | None = None


class RetryableModelError(CodemillModelError):
    """A transient failure; `retry_after` is the server's wait hint in seconds, if any."""

    rate_limited = False

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimited(RetryableModelError):
    """HTTP 429: too many requests or too many in flight."""

    rate_limited = True
    status_code = 429

    def __init__(self, retry_after: float | None = None, detail: str = "") -> None:
        hint = f" (Retry-After {retry_after:g} s)" if retry_after is not None else ""
        extra = f": {detail}" if detail else ""
        super().__init__(
            f"the provider rate-limited the request (429){hint}{extra}; "
            "lower --concurrency if it persists",
            retry_after=retry_after,
        )


class ServerError(RetryableModelError):
    """HTTP 5xx: the provider failed or the model is under maintenance."""

    def __init__(
        self, status_code: int, detail: str = "", retry_after: float | None = None
    ) -> None:
        extra = f": {detail}" if detail else ""
        super().__init__(
            f"the provider failed with HTTP {status_code}{extra}; retry later if it persists",
            retry_after=retry_after,
        )
        self.status_code = status_code


class ModelTimeout(RetryableModelError):
    """No answer (or no stream event) within the configured timeout."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"the model did not answer in time ({what}); raise the timeout if it persists"
        )


class DeadlineExceeded(ModelTimeout):
    """The attempt outlived its total deadline while bytes or events still trickled in."""

    def __init__(self, deadline: float) -> None:
        RetryableModelError.__init__(
            self,
            f"the model did not finish its answer within the request deadline of {deadline:g} s; "
            "raise request_deadline if the server is just slow",
        )
        self.deadline = deadline


class ConnectionDropped(RetryableModelError):
    """The connection failed or closed before a complete answer arrived."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"the connection to the model failed ({what}); check the base URL and network"
        )


class StreamCut(ConnectionDropped):
    """The server closed a streamed answer before its end, typically under concurrent streams."""

    def __init__(self, what: str) -> None:
        RetryableModelError.__init__(
            self,
            f"the server cut the streamed answer off ({what}); some servers (llama.cpp's) cancel "
            "concurrent streams: lower --concurrency or drop --stream",
        )


class MalformedResponse(RetryableModelError):
    """A 200 answer that is not valid OpenAI-compatible JSON."""

    def __init__(self, what: str) -> None:
        super().__init__(f"the model server sent a malformed answer ({what}); check the base URL")


class ProviderBusy(RetryableModelError):
    """HTTP 200 carrying a retryable MiniMax `base_resp` error code."""

    def __init__(self, code: int, message: str = "") -> None:
        extra = f" ({message})" if message else ""
        super().__init__(
            f"the provider reported error {code}{extra}; it will be retried with backoff"
        )
        self.code = code
        self.rate_limited = code in RATE_BASE_CODES


class RequestRejected(CodemillModelError):
    """The provider refused this request only (sensitive content, token limit, invalid params)."""

    def __init__(self, code: int, message: str = "") -> None:
        extra = f" ({message})" if message else ""
        super().__init__(
            f"the provider refused this request with error {code}{extra}; "
            "shrink or change this chunk, the run goes on"
        )
        self.code = code


class ContextTooLong(RequestRejected):
    """The request does not fit the model's context window: this chunk only, the run goes on."""

    def __init__(self, detail: str, *, sent: bool = True, code: int = 1039) -> None:
        CodemillModelError.__init__(
            self,
            f"{detail}; the chunk is too long for the model's context window "
            "(lower --budget to cut smaller chunks, or raise --context-tokens if the server allows)",
        )
        self.code = code
        self.sent = sent  # False: found before sending, nothing was paid for


class AnswerTooLarge(CodemillModelError):
    """An answer larger than its max_tokens allows: the chunk is rejected, never retried or cached.

    `completion` is the answer, its text dropped, when it was read whole (its tokens and cost count)."""

    def __init__(self, what: str, completion: Completion | None = None) -> None:
        super().__init__(
            f"the model's answer is too large for its max_tokens ({what}); the chunk is rejected"
        )
        self.completion = completion


class NotSent(CodemillModelError):
    """The request was never sent: the caller's admission check (cost limit, run stop) said no."""

    def __init__(self, why: str) -> None:
        super().__init__(f"not sent: {why}")
        self.why = why


class FatalModelError(CodemillModelError):
    """Every later request would fail the same way: the run should stop early (exit 3)."""

    exit_code: ClassVar[int] = ExitCode.PROVIDER


class BadRequest(FatalModelError):
    """HTTP 4xx other than 401/403/408/429: the request body or URL was refused."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(
            f"the provider refused the request (HTTP {status_code}): {message or 'no message'}; "
            "check the model name, base URL and parameters"
        )
        self.status_code = status_code
        self.message = message


class AuthenticationError(FatalModelError):
    """HTTP 401 or base_resp 1004/2049: the key is missing, wrong or revoked."""

    def __init__(self, env_var: str, detail: str = "401") -> None:
        super().__init__(
            f"the API key in {env_var} was refused ({detail}): "
            f"set a valid key in {env_var} and rerun"
        )
        self.env_var = env_var
        self.status_code = 401


class InsufficientCredits(FatalModelError):
    """HTTP 403 or base_resp 1008/2056: the account has no balance or hit its usage limit."""

    def __init__(self, detail: str = "403") -> None:
        super().__init__(
            f"the provider account is out of credits or over its usage limit ({detail}): "
            "top up or raise the limit, then rerun"
        )
        self.status_code = 403


class RetriesExhausted(CodemillModelError):
    """The last retryable error, raised once the attempt or total-wait budget is spent."""

    def __init__(self, last: RetryableModelError, attempts: int) -> None:
        super().__init__(f"gave up after {attempts} attempt(s); last error: {last}")
        self.last = last
        self.attempts = attempts
        self.status_code = last.status_code
