"""Talking to an OpenAI-compatible model: the client over httpx, completions, response parsing, SSE,
the sharded transport, the run's limiter, the response cache, prices, redaction and the client's errors.
May import the floor (`pipeline.errors`, `paths`, `config`) and `pipeline.judge.thinking` only; the one
part that imports httpx.
"""
