"""pipeline.redact: secrets (the API key, a URL's user-info) masked in any text."""

from __future__ import annotations

import pytest

from pipeline.redact import MASK, redact, redact_text, redact_url


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("https://user:pw@host/repo.git", "https://***@host/repo.git"),
        ("https://ghp_TOKEN@github.com/o/r.git", "https://***@github.com/o/r.git"),
        ("http://u:p%40ss@127.0.0.1:8080/r", "http://***@127.0.0.1:8080/r"),
        ("https://u:p@ss@host/r", "https://***@host/r"),  # an unencoded '@' in the password
        ("ssh://git@host:22/r.git", "ssh://***@host:22/r.git"),
        ("https://host/repo.git", "https://host/repo.git"),
        ("git@github.com:o/r.git", "git@github.com:o/r.git"),  # scp-like: no secret in it
        ("origin", "origin"),
        ("https://host/path/a@b", "https://host/path/a@b"),  # '@' in the path is not user-info
    ],
)
def test_redact_url_masks_user_info_only(url: str, masked: str) -> None:
    assert redact_url(url) == masked


def test_redact_text_masks_every_url_in_git_stderr_and_the_given_secrets() -> None:
    stderr = (
        "fatal: unable to access 'https://bob:hunter2@example.org/r.git/': Could not resolve host\n"
        "remote: see https://x:y@mirror.example.org/r for sk-KEY-123"
    )
    out = redact_text(stderr, ["sk-KEY-123", None, ""])
    assert "hunter2" not in out and "bob" not in out and ":y@" not in out
    assert "sk-KEY-123" not in out
    assert "'https://***@example.org/r.git/'" in out
    assert "https://***@mirror.example.org/r for ***" in out


def test_redact_masks_a_secret_and_nothing_when_there_is_none() -> None:
    assert redact("key=abc abc", "abc") == f"key={MASK} {MASK}"
    assert redact("key=abc", None) == "key=abc"
    assert redact("key=abc", "") == "key=abc"
