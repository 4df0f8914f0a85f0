"""Files at the base commit and how they are cut and put back: reading (`files`), chunking and spans,
layout (dedent/re-indent) and splicing. Imports only the standard library, libcst and GitPython.
"""
