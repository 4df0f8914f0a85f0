"""The run: `execute` reads as a run goes and holds every decision (plan, refactor, gate with repair turns,
commit, report, land, the exit code); `runner` is the seam through which a step runs in-process
(LocalRunner) or under an orchestrator; `landing` makes the commits and sets the branch last; the model
session, interrupts, the result, progress, the estimate and replay. Callable with no
orchestrator. May import every other part of pipeline but `fleet`; nothing below imports it (the ledger it
writes is in `records`).
"""
