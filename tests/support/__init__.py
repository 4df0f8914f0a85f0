"""What the tests share: the fake model server, git repositories, the CLI runner, Prefect, Chromium."""
