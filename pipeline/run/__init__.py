"""A run's steps and every decision in them (plan, refactor, assemble, gate, apply, report, state), the
ledger, progress, the estimate and replay. Callable with no orchestrator. May import every other part of
pipeline but `fleet`; `report` imports `run.ledger` back, and nothing else of run.
"""
