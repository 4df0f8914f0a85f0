"""Files at the base commit and how they are cut and put back: reading (`files`, with the parse guard
`guard`), chunking (`chunking`: the chunk types; `cutter`: the budgeted grouping), spans (`spans`, `anchors`,
and `codegen`, the one user of libcst's private code generator), layout (dedent/re-indent) and splicing.
May import `pipeline.errors`, `paths`, `config` and `repository` (to read the base commit); libcst, GitPython.
"""
