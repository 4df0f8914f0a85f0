"""Repository gates over a run's assembled changes: the scratch worktree at the base, the import check and
its fork server, and the test-suite gate with bisection. May import `source`, `judge`, `engines`,
`repository` and the floor (`errors`, `paths`, `config`).
"""
