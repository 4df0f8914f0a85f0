"""The test gate's runs measured: each run's coverage data file, and the environment that loads codemill's
pytest plugin (pipeline/gates/plugin/) into the repository's own pytest to write it.

The plugin comes through PYTEST_ADDOPTS and PYTHONPATH, so any pytest command (found or configured) is
measured without changing it; a command that is not pytest ignores both and leaves no data file. Only the
changed files are measured, and never the base run: on Python 3.11 tracing costs the more-itertools suite
2.4x its time even so (bench/RESULTS.md), so it is spent where evidence and guidance come from.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from pipeline.config import child_environment
from pipeline.evidence.coverage_map import CoverageMap, read_coverage

PLUGIN_DIR = Path(__file__).with_name("plugin")
PLUGIN = "codemill_coverage"
DATA_VARIABLE = "PYTEST_CODEMILL_DATA"  # read (and taken out) by the plugin
ONLY_VARIABLE = "PYTEST_CODEMILL_ONLY"  # the files to measure: tracing the rest is what costs


def measuring_env(data_file: Path, only: Sequence[str]) -> dict[str, str]:
    """The variables that make a pytest run write its per-test coverage of the files `only` (paths
    relative to its rootdir) to `data_file`."""
    inherited = child_environment()
    path = [str(PLUGIN_DIR), inherited.get("PYTHONPATH", "")]
    addopts = [inherited.get("PYTEST_ADDOPTS", ""), f"-p {PLUGIN}"]
    return {
        "PYTHONPATH": os.pathsep.join(p for p in path if p),
        "PYTEST_ADDOPTS": " ".join(a for a in addopts if a),
        DATA_VARIABLE: str(data_file),
        ONLY_VARIABLE: os.pathsep.join(only),
    }


def contents_key(files: Mapping[str, bytes]) -> str:
    """One digest for the changed files' bytes in a run: the same key for the same tree."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(f"{path}\0{len(files[path])}\0".encode())
        digest.update(files[path])
    return digest.hexdigest()


class Measurements:
    """The data files of one gate's runs, by the key of the files they ran on; removed by `close`."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="codemill-coverage-"))
        self.files: dict[str, Path] = {}

    def next_file(self, key: str) -> Path:
        """A fresh data file for a run on the tree `key` names (the last run on that tree wins)."""
        path = self.folder / f"run-{len(self.files)}.coverage"
        self.files[key] = path
        return path

    def read(self, key: str, tree: Path) -> CoverageMap | None:
        """What the run on tree `key` executed, None when it was not run or not measured."""
        path = self.files.get(key)
        return None if path is None else read_coverage(path, tree)

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Measurements:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
