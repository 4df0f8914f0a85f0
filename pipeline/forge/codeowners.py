"""CODEOWNERS: who owns each changed file, in GitHub's and GitLab's syntax and locations.

GitHub reads the first of `.github/CODEOWNERS`, `CODEOWNERS`, `docs/CODEOWNERS`; GitLab the first of
`CODEOWNERS`, `docs/CODEOWNERS`, `.gitlab/CODEOWNERS`. Patterns follow gitignore's rules; the last
matching line wins (GitLab: the last in each `[Section]`, the owners of every section together). A line
with a pattern and no owner leaves those files unowned.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LOCATIONS = {
    "github": (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"),
    "gitlab": ("CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS"),
}
_SECTION = re.compile(r"^\^?\[(?P<name>[^\]]+)\](?:\[\d+\])?(?P<owners>(?:\s+\S+)*)\s*$")


@dataclass(frozen=True)
class Rule:
    """One CODEOWNERS line: its pattern as a regex, its owners, and its section (GitLab)."""

    pattern: re.Pattern[str]
    owners: tuple[str, ...]
    section: str = ""


def parse(text: str) -> list[Rule]:
    """The rules of a CODEOWNERS file, in order; a section's default owners fill lines without any."""
    rules: list[Rule] = []
    section, defaults = "", ()
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if heading := _SECTION.match(line):
            section, defaults = heading["name"].lower(), tuple(heading["owners"].split())
            continue
        pattern, *owners = line.split()
        rules.append(Rule(_regex(pattern.replace("\\ ", " ")), tuple(owners) or defaults, section))
    return rules


def owners_of(rules: list[Rule], path: str) -> tuple[str, ...]:
    """The owners of `path` (without `@`): the last matching rule of each section, together."""
    last: dict[str, Rule] = {}
    for rule in rules:
        if rule.pattern.search(path):
            last[rule.section] = rule
    found = [owner.lstrip("@") for rule in last.values() for owner in rule.owners]
    return tuple(dict.fromkeys(o for o in found if "@" not in o))  # an e-mail cannot be asked


def _regex(pattern: str) -> re.Pattern[str]:
    """gitignore's pattern rules: anchored when it has a slash before its end, `**` any depth."""
    anchored = "/" in pattern.rstrip("/")
    directory = pattern.endswith("/")
    body = pattern.strip("/")
    out = ""
    for part in re.split(r"(\*\*/|/\*\*|\*|\?)", body):
        out += {"**/": "(?:.*/)?", "/**": "/.*", "*": "[^/]*", "?": "[^/]"}.get(
            part, re.escape(part)
        )
    start = "^" if anchored else "(?:^|/)"
    end = "/" if directory else "(?:$|/)"
    return re.compile(start + out + end)
