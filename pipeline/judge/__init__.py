"""Deciding whether an answer may replace its chunk: think blocks, reply extraction, validation, target
syntax, the recipe's policy and the verdict types. Imports `pipeline.source` only.
"""
