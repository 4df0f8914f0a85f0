"""Recipes: loading `prompts/*.md`, selectors that decide which chunks are sent, rendering messages.
Imports `pipeline.source` and `pipeline.judge`.
"""
