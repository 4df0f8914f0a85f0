"""What turns a chunk into a Proposal: the proposal type, spend and prices, the model engine (with repair
turns) and the codemod engines. May import `source`, `judge`, `recipes`, `model`, `codemods` and the floor
(`errors`, `paths`, `config`).
"""
