"""Keep a secret (the API key) out of any text that may reach a log, an exception or a report."""

from __future__ import annotations

MASK = "***"


def redact(text: str, secret: str | None) -> str:
    """Return `text` with every occurrence of `secret` masked; an empty secret masks nothing."""
    if not secret:
        return text
    return text.replace(secret, MASK)
