"""The ledger's integrity chain: each record's "sha256" digests the previous record's digest and its own
JSON (without the field), so the last digest stands for the whole file and a killed run's rows are each
still checked.

This catches accidental damage and casual edits only: whoever can rewrite a ledger can recompute a plain
digest (a key would have to travel with every report that is applied elsewhere, so there is none). The
real guard is that `report` and `apply` prove every accepted chunk again (`pipeline.run.replay`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=False)


class Chain:
    """The integrity chain: each record's "sha256" digests the previous one's and its own JSON."""

    def __init__(self) -> None:
        self.last = ""

    def link(self, content: str) -> str:
        """The digest of one record's JSON (without its "sha256") after the records before it."""
        self.last = hashlib.sha256(
            (self.last + content).encode("utf-8", "surrogatepass")
        ).hexdigest()
        return self.last

    def line(self, record: str, data: dict[str, Any]) -> str:
        """One ledger.jsonl line, its digest last."""
        body = {"record": record, **data}
        return _json({**body, "sha256": self.link(_json(body))}) + "\n"

    def check(self, data: dict[str, Any]) -> str | None:
        """Why a record read back (its "sha256" taken out of `data`) is not the one written, if so."""
        written = data.pop("sha256", None)
        if written is None:
            return "has no digest (an older codemill wrote it, or it was edited)"
        if self.link(_json(data)) != written:
            return "is not the record the run wrote there"
        return None
