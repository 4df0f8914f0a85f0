"""The Prefect adapter keeps secrets out of Prefect: what it records of a run's parameters is redacted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.gitrepo import make_repo

from flows.refactor import refactor_repo
from flows.schedule import ScheduleError, deployments_for
from pipeline.config import RunConfig

PUSH = "https://deploy-bot:hunter2-token@git.example.invalid/team/app.git"


def test_the_flow_records_its_parameters_with_url_credentials_masked(tmp_path: Path) -> None:
    config = RunConfig(repo=tmp_path, push=PUSH, base_url="https://user:pw@llm.invalid/v1")
    recorded = refactor_repo.serialize_parameters({"config": config, "paths": ["."]})
    text = json.dumps(recorded)
    assert "hunter2-token" not in text and "deploy-bot" not in text and ":pw@" not in text
    assert "https://***@git.example.invalid/team/app.git" in text
    assert recorded["paths"] == ["."]


def test_a_deployment_refuses_a_push_url_with_credentials(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"m.py": "x = 1\n"})
    with pytest.raises(ScheduleError, match="holds credentials") as raised:
        deployments_for([repo], {"push": PUSH}, since=None, cron=None)
    assert "hunter2" not in str(raised.value)
