"""Building a chat request: the client's settings, its API key lookup, and the provider-safe JSON body.

The body carries only fields the AI/ML API schema accepts, each range-checked before anything is sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.config import (
    CONNECT_TIMEOUT,
    DEFAULT_API_KEY_ENV,
    DEFAULT_BASE_URL,
    DEFAULT_CONTEXT_TOKENS,
    DEFAULT_MODEL,
    READ_TIMEOUT,
    RunConfig,
    temperature_error,
)

ROLES = frozenset({"system", "user", "assistant", "tool"})


@dataclass(frozen=True)
class ModelSettings:
    """Where and how to call the model; holds the NAME of the key's env variable, never the key."""

    base_url: str = DEFAULT_BASE_URL
    model: str = DEFAULT_MODEL
    api_key_env: str = DEFAULT_API_KEY_ENV
    connect_timeout: float = CONNECT_TIMEOUT
    read_timeout: float = READ_TIMEOUT
    stream_idle_timeout: float = 120.0  # longest silence between two stream events
    request_deadline: float | None = (
        None  # seconds for a whole attempt; None: from max_tokens (limits)
    )
    max_attempts: int = 6
    max_total_wait: float = 300.0  # cap on the backoff sleep summed over a request's attempts
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    stream: bool = False
    pool_size: int | None = None  # connections kept; default: the limiter's concurrency
    context_tokens: int = DEFAULT_CONTEXT_TOKENS  # the model's window: prompt + max_tokens fit it

    @classmethod
    def from_config(cls, config: RunConfig) -> ModelSettings:
        """The client settings a run's config asks for (endpoint, model, key variable, timeouts)."""
        return cls(
            base_url=config.base_url,
            model=config.model,
            api_key_env=config.api_key_env,
            connect_timeout=config.connect_timeout,
            read_timeout=config.read_timeout,
            request_deadline=config.request_deadline,
            stream=config.stream,
            context_tokens=config.context_tokens,
        )


def api_key_from_env(settings: ModelSettings, env: Mapping[str, str]) -> str | None:
    """The key from the environment variable the settings name, or None when unset or blank."""
    value = env.get(settings.api_key_env, "").strip()
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
        if why := temperature_error(temperature):
            raise ValueError(f"temperature {why}")
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
