"""What turns a chunk into a Proposal: the model engine (with repair turns) and the codemod engine, their
spend and prices. Imports `source`, `judge`, `recipes`, `model`, `codemods`.
"""
