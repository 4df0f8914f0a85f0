"""What runs and fleets leave on record, as plain data read and written in one place: a run's ledger
(`ledger`: one row per chunk, chained digests) and what one repository's run hands back to its fleet
(`repo_result`). Below `run`, `report` and `fleet`, which all read them, so none of those imports another
to reach them.
"""
