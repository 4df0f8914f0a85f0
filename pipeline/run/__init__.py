"""A run's steps and every decision in them (plan, refactor, assemble, gate, apply, report, state), the
ledger, progress and replay. Callable with no orchestrator. May import every other part of pipeline.
"""
