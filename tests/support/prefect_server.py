"""A real `prefect server start` on 127.0.0.1 for the tests that run flows (one per test session)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.processes import stop, wait_healthy

STARTUP_TIMEOUT_S = 300.0  # a fresh database migrates first: minutes on a loaded 2-core machine


def free_port() -> int:
    """An unused TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(home: Path) -> dict[str, str]:
    """Environment for a server and its clients: their own Prefect home, quiet, no telemetry."""
    env = dict(os.environ)
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_LOGGING_LEVEL="WARNING",
        PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL="CRITICAL",
    )
    env.pop("PREFECT_API_URL", None)
    return env


@contextmanager
def prefect_server(home: Path) -> Iterator[str]:
    """Start a server, wait until healthy, yield its API URL; stop it afterwards."""
    port = free_port()
    home.mkdir(parents=True, exist_ok=True)
    log = (home / "server.log").open("wb")
    prefect = Path(sys.executable).parent / "prefect"
    url = f"http://127.0.0.1:{port}/api"
    proc = subprocess.Popen(
        [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env={**server_env(home), "PREFECT_UI_API_URL": url},  # the UI's pages ask this server
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        health, log_path = f"{url}/health", home / "server.log"
        wait_healthy(proc, health, what="prefect server", timeout=STARTUP_TIMEOUT_S, log=log_path)
        yield url
    finally:
        stop(proc, timeout=20)
        log.close()
