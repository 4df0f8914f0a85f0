"""The coverage plugin the gate loads into the repository's pytest does nothing unless the gate named a data
file: a pytest that the repository's own tests start (with our PYTEST_ADDOPTS inherited) measures nothing and
its environment is left as it was. In-process, so the fast set sees the plugin's own module run."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

PLUGIN_DIR = Path(__file__).resolve().parents[2] / "pipeline" / "gates" / "plugin"


def test_without_a_data_file_the_plugin_measures_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    monkeypatch.delitem(sys.modules, "codemill_coverage", raising=False)
    import codemill_coverage as plugin

    monkeypatch.delenv(plugin.VARIABLE, raising=False)
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p codemill_coverage -q")

    plugin.pytest_configure(pytest.Config.__new__(pytest.Config))
    steps = plugin.pytest_runtest_protocol(None, None)  # type: ignore[arg-type]
    next(steps)
    with pytest.raises(StopIteration):
        next(steps)
    plugin.pytest_unconfigure(pytest.Config.__new__(pytest.Config))

    assert plugin._measuring == []
    assert plugin.os.environ["PYTEST_ADDOPTS"] == "-p codemill_coverage -q"  # left as it was
