"""Prefect flows and the `codemill` command line, thin layers over `pipeline/`.

Importing this package changes nothing (no environment, no Prefect): a command that uses Prefect quiets
its console first (`flows.orchestrator.quiet_prefect`), and a local run never imports it.
"""
