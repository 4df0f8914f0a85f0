"""Keep secrets (the API key, credentials in a URL's user-info) out of any text that may reach a log,
an exception, a report or Prefect.

`redact_url` masks one URL's user-info (`https://user:token@host/x` -> `https://***@host/x`); `redact_text`
masks the user-info of every URL inside a text (git's stderr echoes the remote URL) and any given secrets.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"

# scheme://user-info@ : the user-info runs to the last '@' before the host (no '/', no whitespace).
_USER_INFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^\s/@]+(?:@[^\s/@]+)*@")


def redact(text: str, secret: str | None) -> str:
    """Return `text` with every occurrence of `secret` masked; an empty secret masks nothing."""
    if not secret:
        return text
    return text.replace(secret, MASK)


def redact_url(url: str) -> str:
    """`url` with its user-info (user name, password or token) masked; other text is left as is."""
    return _USER_INFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", url)


def redact_text(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` with every URL's user-info masked, then every non-empty secret in `secrets`."""
    masked = redact_url(text)
    for secret in secrets:
        masked = redact(masked, secret)
    return masked
