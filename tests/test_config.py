"""RunConfig: precedence over real pyproject files and env mappings, conversion, clear errors."""

from __future__ import annotations

import re
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from pipeline.config import (
    DEFAULT_API_KEY_ENV,
    DEFAULT_BASE_URL,
    SETTINGS,
    TABLE,
    ConfigError,
    RunConfig,
    child_environment,
    git_environment,
    load_config,
)
from pipeline.python_versions import target_python_from_requires


def write_pyproject(root: Path, body: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(body, encoding="utf-8")
    return root


def test_every_runconfig_field_is_a_setting() -> None:
    not_settings = {"repo", "warnings", "origins", "test_found"}  # test_found: set by the run
    assert {f.name for f in fields(RunConfig)} - not_settings == SETTINGS


def test_defaults_without_pyproject(tmp_path: Path) -> None:
    config = load_config(tmp_path, {}, {"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert config.repo == tmp_path
    assert config.recipe == "modernize"
    assert config.engine == "auto"
    assert config.concurrency == 16
    assert config.base == "HEAD"
    assert config.commit_per == "file"
    assert config.repair_turns == 1
    assert config.push is None and config.max_cost is None
    assert config.target_python == sys.version_info[:2]
    assert config.cache_path == tmp_path / "cache" / "codemill" / "responses.sqlite3"


def test_precedence_cli_over_env_over_pyproject_over_defaults(tmp_path: Path) -> None:
    write_pyproject(
        tmp_path,
        """
[project]
requires-python = ">=3.9"

[tool.codemill]
recipe = "type-hints"
concurrency = 4
rpm = 60
exclude = ["tests/*", "docs/*"]
max-cost = 2.5
dry_run = true
""",
    )
    env = {"CODEMILL_CONCURRENCY": "8", "CODEMILL_RPM": "120", "CODEMILL_DRY_RUN": "0"}
    cli: dict[str, object] = {"concurrency": 2, "rpm": None, "recipe": None}
    config = load_config(tmp_path, cli, env)
    assert config.concurrency == 2  # CLI wins over env and pyproject
    assert config.rpm == 120  # env wins over pyproject; a CLI None means "not given"
    assert config.dry_run is False  # env "0" overrides pyproject true
    assert config.recipe == "type-hints"  # pyproject wins over the default
    assert config.exclude == ("tests/*", "docs/*")
    assert config.max_cost == 2.5  # dashed key accepted
    assert config.target_python == (3, 9)  # from requires-python
    assert config.tpm is None  # default


def test_env_lists_and_paths_and_python(tmp_path: Path) -> None:
    env = {
        "CODEMILL_INCLUDE": "src/*.py, lib/**",
        "CODEMILL_TARGET_PYTHON": "3.12",
        "CODEMILL_REPORT_DIR": str(tmp_path / "out"),
        "CODEMILL_PUSH": "origin",
        "CODEMILL_UNRELATED": "ignored",
    }
    config = load_config(tmp_path, {}, env)
    assert config.include == ("src/*.py", "lib/**")
    assert config.target_python == (3, 12)
    assert config.report_dir == tmp_path / "out"
    assert config.push == "origin"


def test_explicit_target_python_beats_requires_python(tmp_path: Path) -> None:
    write_pyproject(tmp_path, '[project]\nrequires-python = ">=3.8"\n')
    assert load_config(tmp_path, {"target_python": "3.11"}, {}).target_python == (3, 11)
    assert load_config(tmp_path, {}, {}).target_python == (3, 8)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CODEMILL_CONCURRENCY": "abc"}, "CODEMILL_CONCURRENCY='abc' is not an integer"),
        ({"CODEMILL_CONCURRENCY": "0"}, "CODEMILL_CONCURRENCY='0' must be at least 1"),
        ({"CODEMILL_ENGINE": "gpt"}, "CODEMILL_ENGINE='gpt' must be one of auto, llm, codemod"),
        ({"CODEMILL_DRY_RUN": "maybe"}, "CODEMILL_DRY_RUN='maybe' is not a boolean"),
        ({"CODEMILL_MAX_COST": "-1"}, "CODEMILL_MAX_COST='-1' must be a positive number"),
        ({"CODEMILL_TARGET_PYTHON": "three"}, "CODEMILL_TARGET_PYTHON='three' is not a Python"),
    ],
)
def test_bad_env_values_name_the_variable(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, {}, env)
    assert str(info.value).startswith(message)


def test_bad_cli_value_names_the_flag(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^--commit-per='branch' must be one of file, run$"):
        load_config(tmp_path, {"commit_per": "branch"}, {})
    with pytest.raises(ConfigError, match=r"unknown option\(s\): --colour"):
        load_config(tmp_path, {"colour": "red"}, {})


def test_bad_pyproject_value_names_table_and_file(tmp_path: Path) -> None:
    write_pyproject(tmp_path, "[tool.codemill]\nbudget = 'big'\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, {}, {})
    assert "[tool.codemill] budget in" in str(info.value)
    assert "pyproject.toml='big' is not an integer" in str(info.value)


def test_float_python_version_in_toml_is_refused(tmp_path: Path) -> None:
    write_pyproject(tmp_path, "[tool.codemill]\ntarget_python = 3.10\n")
    with pytest.raises(ConfigError, match=re.escape('in quotes, e.g. "3.10"')):
        load_config(tmp_path, {}, {})


@pytest.mark.parametrize("source", ["cli", "env"])
def test_a_bad_python_version_says_x_y_is_expected(tmp_path: Path, source: str) -> None:
    cli = {"target_python": "abc"} if source == "cli" else {}
    env = {"CODEMILL_TARGET_PYTHON": "abc"} if source == "env" else {}
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, cli, env)
    assert str(info.value).endswith("='abc' is not a Python version: expected X.Y, e.g. 3.10")
    assert "quoted" not in str(info.value)  # TOML's words only where TOML is the source


def test_unknown_pyproject_keys_are_named(tmp_path: Path) -> None:
    write_pyproject(tmp_path, "[tool.codemill]\nrecipe = 'simplify'\nconcurency = 3\nmodle = 'x'\n")
    with pytest.raises(ConfigError, match=r"unknown setting\(s\): concurency, modle"):
        load_config(tmp_path, {}, {})


def test_malformed_toml_is_a_config_error(tmp_path: Path) -> None:
    write_pyproject(tmp_path, "[tool.codemill\nrecipe = 1\n")
    with pytest.raises(ConfigError, match="cannot be read as TOML"):
        load_config(tmp_path, {}, {})


def test_bad_requires_python_is_named(tmp_path: Path) -> None:
    write_pyproject(tmp_path, '[project]\nrequires-python = ">= three"\n')
    with pytest.raises(ConfigError, match="requires-python='>= three'"):
        load_config(tmp_path, {}, {})


def test_conflicting_cache_flags(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--no-cache and --refresh-cache cannot"):
        load_config(tmp_path, {"no_cache": True}, {"CODEMILL_REFRESH_CACHE": "yes"})


def test_none_in_env_switches_an_optional_setting_off(tmp_path: Path) -> None:
    write_pyproject(tmp_path, "[tool.codemill]\npush = 'origin'\nmax_cost = 3\n")
    config = load_config(tmp_path, {}, {"CODEMILL_PUSH": "none", "CODEMILL_MAX_COST": ""})
    assert config.push is None
    assert config.max_cost is None


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (">=3.9", (3, 9)),
        ("~=3.8", (3, 8)),
        ("~=3.8.1", (3, 8)),
        (">=3.8,<4", (3, 8)),
        (">3.9", (3, 9)),  # 3.9.1 > 3.9 is allowed
        (">3.9.40", (3, 10)),
        (">=3.8, !=3.8.*", (3, 9)),
        ("==3.11.*", (3, 11)),
        ("<4", None),
        ("", None),
        (">=3.12,<3.10", None),
    ],
)
def test_target_python_from_requires(spec: str, expected: tuple[int, int] | None) -> None:
    assert target_python_from_requires(spec) == expected


@pytest.mark.parametrize("spec", [">= three", "=>3.8", ">=3.*"])
def test_unreadable_requires_raise(spec: str) -> None:
    with pytest.raises(ValueError):
        target_python_from_requires(spec)


def user_config(tmp_path: Path, body: str) -> dict[str, str]:
    """An environment whose user config file ($XDG_CONFIG_HOME/codemill/config.toml) holds `body`."""
    path = tmp_path / "xdg" / "codemill" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body, encoding="utf-8")
    return {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}


def test_the_repository_cannot_say_where_the_model_is_or_which_variable_holds_its_key(
    tmp_path: Path,
) -> None:
    repo = write_pyproject(
        tmp_path / "repo",
        '[tool.codemill]\nbase-url = "http://collector.example/v1"\napi_key_env = "OTHER_SECRET"\n'
        'recipe = "type-hints"\n',
    )
    config = load_config(repo, {}, {})
    assert (config.base_url, config.api_key_env) == (DEFAULT_BASE_URL, DEFAULT_API_KEY_ENV)
    assert config.recipe == "type-hints"  # the rest of the table still counts
    [warning] = config.warnings
    assert warning.startswith(f"[tool.codemill] in {repo / 'pyproject.toml'} sets base-url, ")
    assert "api_key_env, ignored" in warning
    assert {n for n, s in TABLE.items() if "repo" not in s.sources} == {
        "base_url",
        "api_key_env",
        "since",
        "forge_url",  # where pull requests go and which variable holds their token: the user's
        "forge_repo",
        "forge_token_env",
    }
    env = {"CODEMILL_BASE_URL": "http://127.0.0.1:9/v1", "CODEMILL_API_KEY_ENV": "MY_KEY"}
    assert load_config(repo, {}, env).base_url == "http://127.0.0.1:9/v1"
    assert load_config(repo, {}, env).api_key_env == "MY_KEY"
    assert load_config(tmp_path / "plain", {}, {}).warnings == ()


def test_the_users_config_file_sits_under_the_repository(tmp_path: Path) -> None:
    env = user_config(tmp_path, 'base_url = "http://127.0.0.1:8/v1"\nconcurrency = 3\nrpm = 5\n')
    repo = write_pyproject(tmp_path / "repo", "[tool.codemill]\nconcurrency = 4\n")
    config = load_config(repo, {}, env)
    assert (config.base_url, config.concurrency, config.rpm) == ("http://127.0.0.1:8/v1", 4, 5)
    assert load_config(repo, {}, {**env, "CODEMILL_RPM": "6"}).rpm == 6
    home = {"HOME": str(tmp_path / "home")}
    assert load_config(repo, {}, home).rpm is None  # ~/.config/codemill/config.toml: none there
    with pytest.raises(ConfigError, match=r"config.toml has unknown setting\(s\): colour$"):
        load_config(repo, {}, user_config(tmp_path, "colour = 'red'\n"))
    with pytest.raises(ConfigError, match=r"config.toml: since is given per run"):
        load_config(repo, {}, user_config(tmp_path, "since = 'last-run'\n"))
    with pytest.raises(ConfigError, match=r"^rpm in .*config.toml='x' is not an integer$"):
        load_config(repo, {}, user_config(tmp_path, "rpm = 'x'\n"))


@pytest.mark.parametrize("name", ["LLM", "MY-KEY", "OPENAI"])
def test_the_key_variable_is_named_like_a_secret(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match=rf"^--api-key-env='{name}' (must name a|is not an env)"):
        load_config(tmp_path, {"api_key_env": name}, {})
    assert load_config(tmp_path, {"api_key_env": "OPENAI_API_KEY"}, {}).api_key_env


def test_children_get_no_model_key_codemill_setting_or_other_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secrets = {
        "AIMLAPI_API_KEY": "k1",
        "MY_MODEL_KEY": "k2",
        "CODEMILL_API_KEY_ENV": "MODEL",
        "MODEL": "k3",
        "CODEMILL_STATE_DIR": "/s",
        "GITHUB_TOKEN": "t",
        "AWS_SECRET_ACCESS_KEY": "a",
        "TWINE_PASSWORD": "p",
        "SSH_AUTH_SOCK": "/agent",
    }
    kept = {"PATH": "/bin", "HOME": "/h", "LANG": "C.UTF-8", "PYTHONPATH": "/p", "KEYBOARD": "x"}
    for name, value in {**secrets, **kept}.items():
        monkeypatch.setenv(name, value)
    child = child_environment(PYTHONDONTWRITEBYTECODE="1")
    assert not set(secrets) & set(child), set(secrets) & set(child)
    assert {k: child[k] for k in kept} == kept and child["PYTHONDONTWRITEBYTECODE"] == "1"
    git = git_environment()  # git keeps its own credentials, loses the model's key
    assert {"GITHUB_TOKEN", "SSH_AUTH_SOCK", "AWS_SECRET_ACCESS_KEY"} <= set(git)
    assert not {"AIMLAPI_API_KEY", "MODEL", "CODEMILL_STATE_DIR"} & set(git)
