"""What a run leaves for people and CI, rendered from its ledger and its changes: `patch` (changes.patch),
`markdown` (summary.md), `junit` (junit.xml), `html` with `diff_view` and `highlight` (report.html from
`templates/`), `directory` (the report dir, written atomically), `ci` (CI outputs) and `fleet` (the fleet
report).

May import the floor (`errors`, `paths`, `config`) and the records it renders: `judge.verdicts`,
`run.ledger`, `fleet.result`, and `model.prices` for cost text; Jinja2, MarkupSafe and Pygments (the one
part that does). Never the rest of `run`: the run calls the reports, not the other way round.
"""
