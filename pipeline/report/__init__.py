"""What a run leaves for people and CI, rendered from its ledger and its changes: `patch` (changes.patch),
`markdown` (summary.md), `junit` (junit.xml), `html` with `diff_view` and `highlight` (report.html from
`templates/`), `directory` (the report dir, written atomically), `ci` (CI outputs) and `fleet` (the fleet
report).

May import the floor (`errors`, `paths`, `config`, `redact`) and what it renders: `records` (the ledger,
the fleet's repository results), `judge.verdicts`, and `model.prices` for cost text; Jinja2, MarkupSafe and
Pygments (the one part that does). Never `run` or `fleet`: they call the reports, not the other way round.
"""
