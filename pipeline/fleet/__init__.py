"""Fleet runs: one recipe over many repositories. The fleet file, the repository cache on each machine, the
per-repository result, what is remembered between fleet runs (skip unchanged, resume), shards and the fleet's
exit code. Plain Python like the rest of pipeline/: the Prefect side (flows/fleet.py) only sequences it.
May import config, paths, repository, run and report.
"""
