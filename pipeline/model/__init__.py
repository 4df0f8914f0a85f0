"""Talking to an OpenAI-compatible model: the client over httpx, completions, response parsing, SSE,
the sharded transport, the run's limiter, the response cache, redaction and the client's errors.
Imports nothing else of pipeline's but `pipeline.errors` and `pipeline.judge.thinking`.
"""
