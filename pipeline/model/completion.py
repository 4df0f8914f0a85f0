"""Usage and Completion: the value types a model answer becomes, kept apart so every layer can share them.

The response parsers, the stream reader, the client and the response cache all build or read these; living
below all of them keeps the imports one way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class Usage:
    """What model work cost, the one record every layer carries and adds (`+`): the client's answer
    (tokens only), a proposal's turns, a ledger row, the run's totals, the progress counts.

    `attempts` counts answers asked for, `cache_hits` those the response cache gave; `latency_s` is time
    spent waiting on the provider (a cached answer adds none). What nobody reported stays unknown, never a
    silent zero: `unreported` counts answers whose server sent no (or only part of the) token counts,
    `unpriced` answers whose cost is unknown (no provider figure and no price for the model); `cost_usd`
    is then the cost of the others.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0  # reasoning tokens are inside these already
    reasoning_tokens: int = 0
    cached_tokens: int = 0
    total_tokens: int = 0  # as the provider reported it
    cost_usd: float = 0.0
    attempts: int = 0
    cache_hits: int = 0
    latency_s: float = 0.0
    unreported: int = 0
    unpriced: int = 0

    def __add__(self, other: Usage) -> Usage:
        summed = {f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(Usage)}
        summed["cost_usd"] = add_costs(self.cost_usd, other.cost_usd)
        return Usage(**summed)

    @property
    def tokens(self) -> int:
        """Prompt plus completion tokens: what the provider bills."""
        return self.prompt_tokens + self.completion_tokens

    @property
    def from_cache(self) -> bool:
        """True when there were answers and the response cache gave every one of them."""
        return self.attempts > 0 and self.cache_hits == self.attempts

    def to_json(self) -> dict[str, Any]:
        """The record as flat JSON fields (the ledger's row fields keep these names)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Usage:
        """The record from flat JSON fields; a field it does not know is left out."""
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


def add_costs(a: float, b: float) -> float:
    """The one place two costs are added. An unknown cost is not a number here: it is counted apart
    (`Usage.unpriced`), so known + unknown is the known part plus a count of what is unknown."""
    return a + b


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
        data["usage"] = Usage.from_json(data.get("usage") or {})
        return cls(**data)
