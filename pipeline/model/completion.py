"""Usage and Completion: the value types a model answer becomes, kept apart so every layer can share them.

The response parsers, the stream reader, the client and the response cache all build or read these; living
below all of them keeps the imports one way.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


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
