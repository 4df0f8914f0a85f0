"""What turns a chunk into a Proposal: `proposal` (the answer type), `spend` (prices, cost, the run's
meter and stop flag), `model_engine` (LLMEngine, with repair turns), `codemod_files` and `codemod_module`
(libcst codemods per file, mapped back onto chunks). Imports `source`, `judge`, `recipes`, `model`,
`codemods`.
"""
