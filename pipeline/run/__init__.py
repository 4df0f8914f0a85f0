"""The run: `execute` holds every step and decision (plan, refactor, assemble, gate, apply, report, state,
the exit code), `executor` the seam through which a step runs in-process (LocalSteps) or under an
orchestrator; the model step, interrupts, the result, the ledger, progress, the estimate and replay.
Callable with no orchestrator. May import every other part of pipeline but `fleet`; `report` imports
`run.ledger` back, and nothing else of run.
"""
