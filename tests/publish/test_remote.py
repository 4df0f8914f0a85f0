"""Which forge and repository a push remote is: github.com, Enterprise, gitlab.com's nested groups,
self-managed GitLab, a local path (the fake forge's layout); a remote that names no repository is one
sentence, with its credentials masked."""

from __future__ import annotations

import pytest

from pipeline.forge import ForgeUsageError
from pipeline.forge.remote import ForgeRepo, detect


@pytest.mark.parametrize(
    ("url", "kind", "api_url", "expected"),
    [
        ("https://github.com/octo/widgets.git", None, None,
         ForgeRepo("github", "https://api.github.com", "octo/widgets")),
        ("git@github.com:octo/widgets.git", None, None,
         ForgeRepo("github", "https://api.github.com", "octo/widgets")),
        ("https://ghe.example.com/octo/widgets", None, None,
         ForgeRepo("github", "https://ghe.example.com/api/v3", "octo/widgets")),
        ("ssh://git@gitlab.com/group/sub/app.git", None, None,
         ForgeRepo("gitlab", "https://gitlab.com/api/v4", "group/sub/app")),
        ("https://code.example.org/team/app.git", "gitlab", None,
         ForgeRepo("gitlab", "https://code.example.org/api/v4", "team/app")),
        ("/srv/forge/octo/widgets.git", None, "http://127.0.0.1:9/api/v3/",
         ForgeRepo("github", "http://127.0.0.1:9/api/v3", "octo/widgets")),
    ],
)  # fmt: skip
def test_the_remote_names_the_forge_repository(
    url: str, kind: str | None, api_url: str | None, expected: ForgeRepo
) -> None:
    assert detect(url, kind=kind, api_url=api_url) == expected


def test_a_remote_without_a_repository_is_one_sentence_with_no_credentials() -> None:
    with pytest.raises(ForgeUsageError) as refused:
        detect("https://user:s3cret@example.com/only")
    assert str(refused.value) == (
        "cannot tell the forge repository from the remote 'https://***@example.com/only'; "
        "name it with --forge-repo OWNER/NAME"
    )
    assert detect("https://example.com/only", path="octo/widgets").path == "octo/widgets"
    with pytest.raises(ForgeUsageError, match="--forge must be github or gitlab, not 'gitea'"):
        detect("https://example.com/a/b", kind="gitea")
