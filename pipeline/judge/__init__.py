"""Deciding whether an answer may replace its chunk: think blocks, reply extraction, validation, target
syntax, the recipe's policy and the verdict types. May import `pipeline.source` and the floor (`errors`,
`paths`, `config`); libcst.
"""
