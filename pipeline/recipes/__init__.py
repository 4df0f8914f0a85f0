"""Recipes: loading `prompts/*.md`, selectors that decide which chunks are sent, rendering messages.
May import `pipeline.source`, `pipeline.judge` and the floor (`errors`, `paths`, `config`); the one part
that imports PyYAML.
"""
