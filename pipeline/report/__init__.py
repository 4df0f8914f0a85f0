"""What a run leaves for people and CI: the patch, Markdown summary, JUnit, HTML report and CI outputs.
Imports `judge` (verdicts) and `run.ledger` types.
"""
