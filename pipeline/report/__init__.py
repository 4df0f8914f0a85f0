"""What a run leaves for people and CI, rendered from its ledger and its changes: `patch` (changes.patch),
`markdown` (summary.md), `junit` (junit.xml), `html` with `diff_view` and `highlight` (report.html from
`templates/`), `directory` (the report dir, written atomically), `files` (the default report dir) and `ci`.

May import `pipeline.judge.verdicts`, `pipeline.run.ledger` (the record it renders), `pipeline.paths` and
`pipeline.errors`; Jinja2, MarkupSafe and Pygments. Never the rest of `pipeline.run`: the run calls the
reports, not the other way round.
"""
