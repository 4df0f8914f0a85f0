"""Where a run's project settings come from: the nearest [tool.codemill] between the run's path and the
repository root, the target Python declared by pyproject.toml, setup.cfg or setup.py (read, never run),
and Python 2 projects refused in one sentence."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pipeline.config import ConfigError, find_project, load_config
from pipeline.python_versions import python2_allowed


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_the_nearest_tool_codemill_is_used_and_speaks_of_its_folder(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pyproject.toml": '[tool.codemill]\nconcurrency = 2\nexclude = ["top/*"]\n',
            "pkg/sub/pyproject.toml": (
                '[project]\nrequires-python = ">=3.9"\n\n[tool.codemill]\nconcurrency = 3\n'
                'exclude = ["gen/*"]\ntest_cmd = "python -m unittest"\n'
            ),
            "pkg/sub/mod/a.py": "x = 1\n",
        },
    )
    config = load_config(tmp_path, {}, {}, start=tmp_path / "pkg" / "sub" / "mod" / "a.py")
    assert config.concurrency == 3
    assert config.exclude == ("pkg/sub/gen/*",)  # relative to its own folder, as ruff's are
    assert config.test_cmd == "cd pkg/sub && python -m unittest"
    assert config.origins.settings_file == (tmp_path / "pkg/sub/pyproject.toml").resolve()
    assert config.target_python == (3, 9)
    assert config.origins.target_from == "pkg/sub/pyproject.toml requires-python >=3.9"
    from_root = load_config(tmp_path, {}, {})
    assert from_root.concurrency == 2 and from_root.exclude == ("top/*",)
    assert from_root.origins.settings_file == (tmp_path / "pyproject.toml").resolve()


def test_a_pyproject_without_tool_codemill_is_passed_over(tmp_path: Path) -> None:
    write(
        tmp_path,
        {"pyproject.toml": "[tool.codemill]\nrpm = 7\n", "lib/pyproject.toml": "[tool.ruff]\n"},
    )
    project = find_project(tmp_path, tmp_path / "lib")
    assert project.pyproject == (tmp_path / "pyproject.toml").resolve()
    assert project.table == {"rpm": 7}
    assert find_project(tmp_path, tmp_path.parent).pyproject == tmp_path / "pyproject.toml"


def test_setup_cfg_then_setup_py_declare_the_target(tmp_path: Path) -> None:
    write(tmp_path, {"setup.cfg": "[metadata]\nname = x\n\n[options]\npython_requires = >=3.7\n"})
    config = load_config(tmp_path, {}, {})
    assert config.target_python == (3, 7)
    assert config.origins.target_from == "setup.cfg python_requires >=3.7"
    assert config.origins.settings_file is None
    ran = tmp_path / "ran"
    write(
        tmp_path,
        {
            "setup.cfg": "[metadata]\nname = x\n",
            "setup.py": (
                f"open({str(ran)!r}, 'w').close()\nimport setuptools\n"
                "setuptools.setup(name='x', python_requires='>=3.6, <4')\n"
            ),
        },
    )
    config = load_config(tmp_path, {}, {})
    assert config.target_python == (3, 6)
    assert config.origins.target_from == "setup.py python_requires >=3.6, <4"
    assert not ran.exists()  # read with ast, never executed


def test_pyproject_comes_before_setup_cfg(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pyproject.toml": '[project]\nrequires-python = ">=3.10"\n',
            "setup.cfg": "[options]\npython_requires = >=3.7\n",
        },
    )
    assert load_config(tmp_path, {}, {}).target_python == (3, 10)


def test_nothing_declared_is_this_python_and_said_so(tmp_path: Path) -> None:
    config = load_config(tmp_path, {}, {})
    assert config.target_python == sys.version_info[:2]
    assert config.origins.target_from == "this Python: the project declares none"
    given = load_config(tmp_path, {"target_python": "3.8"}, {})
    assert given.origins.target_from == "--target-python"
    from_env = load_config(tmp_path, {}, {"CODEMILL_TARGET_PYTHON": "3.9"})
    assert from_env.origins.target_from == "CODEMILL_TARGET_PYTHON"


@pytest.mark.parametrize(
    ("files", "where"),
    [
        ({"setup.cfg": "[options]\npython_requires = >=2.7, !=3.0.*, !=3.1.*\n"}, "setup.cfg"),
        (
            {"setup.py": "from setuptools import setup\nsetup(python_requires='>=2.7')\n"},
            "setup.py",
        ),
        ({"pyproject.toml": '[project]\nrequires-python = ">=2.7"\n'}, "pyproject.toml"),
    ],
)
def test_a_python_2_project_is_refused_in_one_sentence(
    tmp_path: Path, files: dict[str, str], where: str
) -> None:
    write(tmp_path, files)
    with pytest.raises(ConfigError) as refused:
        load_config(tmp_path, {}, {})
    assert str(refused.value).startswith(
        "codemill targets Python 3.x; this project still supports 2.7 ("
    )
    assert where in str(refused.value)
    # a target the user gives is theirs: the project's declaration is then not read for it
    assert load_config(tmp_path, {"target_python": "3.8"}, {}).target_python == (3, 8)


def test_target_python_2_is_refused_as_python_2(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--target-python='2.7' is Python 2: codemill targets"):
        load_config(tmp_path, {"target_python": "2.7"}, {})


@pytest.mark.parametrize(
    ("spec", "lowest"),
    [(">=2.7", (2, 7)), (">=2.6,<3", (2, 6)), ("~=2.7", (2, 7)), (">=3.6", None), ("<3", None)],
)
def test_python2_allowed(spec: str, lowest: tuple[int, int] | None) -> None:
    assert python2_allowed(spec) == lowest
