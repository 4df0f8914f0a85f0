"""Prefect flows and the `codemill` command line, thin layers over `pipeline/`.

Importing this package quiets Prefect's console before Prefect is imported: the run prints its own progress,
and Prefect's records still reach its API. A value the user set in the environment wins.
"""

import os

_PREFECT_DEFAULTS = {
    "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "CRITICAL",
    "PREFECT_SERVER_LOGGING_LEVEL": "CRITICAL",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    # The temporary server's start-up takes 7-11 s here and more on a loaded CI machine.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}
for _name, _value in _PREFECT_DEFAULTS.items():
    os.environ.setdefault(_name, _value)
