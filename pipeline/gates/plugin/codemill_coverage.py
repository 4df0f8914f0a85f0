"""codemill's pytest plugin for the test gate's runs: coverage.py with one context per test.

Loaded by the gate into the repository's own pytest (`-p codemill_coverage`, this directory on PYTHONPATH,
both through PYTEST_ADDOPTS so a configured pytest command gets it too). It runs in the repository's Python,
so it imports nothing of codemill. It measures only when PYTEST_CODEMILL_DATA names a data file, and takes
that variable (and itself, from PYTEST_ADDOPTS) out of the environment: a pytest the tests start themselves
neither loads nor measures anything of ours. Without
coverage.py where the tests run, it does nothing (the gate's evidence then stays static).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

VARIABLE = "PYTEST_CODEMILL_DATA"
ONLY = "PYTEST_CODEMILL_ONLY"  # the files to measure, os.pathsep-separated, relative to the rootdir
_measuring: list[Any] = []  # the Coverage object, while one measures


def pytest_configure(config: pytest.Config) -> None:
    """Start measuring (the tests' imports included) into the data file the gate named."""
    data_file, only = os.environ.pop(VARIABLE, ""), os.environ.pop(ONLY, "")
    if not data_file:
        return
    addopts = os.environ.get("PYTEST_ADDOPTS", "").replace(f"-p {__name__}", "").strip()
    os.environ["PYTEST_ADDOPTS"] = addopts  # a pytest the tests start loads no plugin of ours
    try:
        import coverage
    except ImportError:
        return
    where = os.getcwd()
    if only:  # the changed files alone: line tracing elsewhere is what costs
        files = [os.path.join(where, path) for path in only.split(os.pathsep)]
        cov = coverage.Coverage(data_file=data_file, config_file=False, include=files)
    else:
        cov = coverage.Coverage(data_file=data_file, config_file=False, source=[where])
    cov.start()
    _measuring.append(cov)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Each test's lines under its node id (setup, call and teardown); between tests, no context."""
    for cov in _measuring:
        cov.switch_context(item.nodeid)
    yield
    for cov in _measuring:
        cov.switch_context("")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop and write the data file."""
    while _measuring:
        cov = _measuring.pop()
        cov.stop()
        cov.save()
