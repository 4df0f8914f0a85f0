"""The CLI's own converters for plain values: the same values and the same usage errors as Typer's."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.testing import CliRunner

from flows.cli import CodemillCommand

app = typer.Typer(add_completion=False, rich_markup_mode=None)
SEEN: dict[str, object] = {}


@app.command(cls=CodemillCommand)
def probe(
    paths: list[Path],
    name: Annotated[Optional[str], typer.Option()] = None,  # noqa: UP045 (what flows.options makes)
    jobs: Annotated[Optional[int], typer.Option()] = None,  # noqa: UP045
    cost: Annotated[Optional[float], typer.Option()] = None,  # noqa: UP045
    include: Annotated[Optional[list[str]], typer.Option()] = None,  # noqa: UP045
    config: Annotated[Optional[Path], typer.Option(exists=True)] = None,  # noqa: UP045
    check: Annotated[Optional[bool], typer.Option("--check/--no-check")] = None,  # noqa: UP045
    level: Annotated[int, typer.Option(min=1, max=3)] = 2,
) -> None:
    SEEN.update(
        paths=paths, name=name, jobs=jobs, cost=cost, include=include, config=config, check=check
    )
    SEEN["level"] = level


def invoke(*args: str) -> tuple[int, str]:
    SEEN.clear()
    done = CliRunner().invoke(app, list(args))
    return done.exit_code, done.output


def test_plain_values_arrive_as_their_types(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text("")
    code, out = invoke(
        "a.py",
        "b",
        "--name",
        "x",
        "--jobs",
        "3",
        "--cost",
        "0.5",
        "--include",
        "*.py",
        "--include",
        "t/*.py",
        "--config",
        str(tmp_path / "c.toml"),
        "--no-check",
    )
    assert code == 0, out
    assert SEEN["paths"] == [Path("a.py"), Path("b")]
    assert all(type(p) is type(Path()) for p in SEEN["paths"])  # type: ignore[attr-defined]
    assert SEEN["name"] == "x" and SEEN["jobs"] == 3 and SEEN["cost"] == 0.5
    assert type(SEEN["jobs"]) is int and type(SEEN["cost"]) is float
    assert SEEN["include"] == ["*.py", "t/*.py"]
    assert SEEN["config"] == tmp_path / "c.toml" and SEEN["check"] is False


def test_options_not_given_stay_none() -> None:
    code, out = invoke("a.py")
    assert code == 0, out
    assert SEEN["name"] is None and SEEN["jobs"] is None and SEEN["check"] is None
    assert SEEN["include"] is None or SEEN["include"] == []
    assert SEEN["level"] == 2


def test_a_bad_number_is_a_usage_error_naming_the_option() -> None:
    code, out = invoke("a.py", "--jobs", "many")
    assert code == 2
    assert "Invalid value for '--jobs': 'many' is not an integer." in out
    code, out = invoke("a.py", "--cost", "cheap")
    assert code == 2
    assert "Invalid value for '--cost': 'cheap' is not a number." in out


def test_typer_still_checks_what_the_plain_converters_do_not_cover(tmp_path: Path) -> None:
    code, out = invoke("a.py", "--config", str(tmp_path / "missing.toml"))
    assert code == 2
    assert "does not exist" in out
    code, out = invoke("a.py", "--level", "9")  # a ranged int: Typer's own (pydantic) check
    assert code == 2
    assert "--level" in out
