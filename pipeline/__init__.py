"""codemill's library: everything that decides what a file becomes, with no Prefect import.

The orchestration layer (`flows/`) calls into these modules; nothing here imports `flows/`.
"""
