"""Prefect flows and the `codemill` command line, thin layers over `pipeline/`."""
