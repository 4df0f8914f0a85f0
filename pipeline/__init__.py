"""codemill's library: everything that decides what a file becomes, with no Prefect import.

The orchestration layer (`flows/`) calls into these modules; nothing here imports `flows/`. The names below
are the public face; each lives in a small module with one job (see ARCHITECTURE.md for the layout). They load
on first use, so importing one module (the validator, say) does not pull in the HTTP client or GitPython.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.cache import ResponseCache
    from pipeline.chunking import Chunk, ChunkContext, chunk_module, plan_file
    from pipeline.completion import Completion, Usage
    from pipeline.config import ConfigError, RunConfig, load_config
    from pipeline.engines import CodemodFileEngine, LLMEngine, Proposal
    from pipeline.errors import CodemillModelError, FatalModelError, RetryableModelError
    from pipeline.ledger import Ledger, LedgerRow, RunMeta
    from pipeline.limiter import Limiter
    from pipeline.model import ChatClient, ModelSettings
    from pipeline.policy import Allowances, Policy
    from pipeline.recipes import Recipe, RecipeError, builtin_recipes, load_recipe
    from pipeline.replies import Extraction, extract_code
    from pipeline.sources import SkippedFile, SourceFile, SourceSet, list_sources
    from pipeline.splicing import splice
    from pipeline.validation import validate
    from pipeline.verdicts import Reason, Status, Verdict

_HOMES = {
    "Allowances": "pipeline.policy",
    "ChatClient": "pipeline.model",
    "Chunk": "pipeline.chunking",
    "ChunkContext": "pipeline.chunking",
    "CodemillModelError": "pipeline.errors",
    "CodemodFileEngine": "pipeline.engines",
    "Completion": "pipeline.completion",
    "ConfigError": "pipeline.config",
    "Extraction": "pipeline.replies",
    "FatalModelError": "pipeline.errors",
    "LLMEngine": "pipeline.engines",
    "Ledger": "pipeline.ledger",
    "LedgerRow": "pipeline.ledger",
    "Limiter": "pipeline.limiter",
    "ModelSettings": "pipeline.model",
    "Policy": "pipeline.policy",
    "Proposal": "pipeline.engines",
    "Reason": "pipeline.verdicts",
    "Recipe": "pipeline.recipes",
    "RecipeError": "pipeline.recipes",
    "ResponseCache": "pipeline.cache",
    "RetryableModelError": "pipeline.errors",
    "RunConfig": "pipeline.config",
    "RunMeta": "pipeline.ledger",
    "SkippedFile": "pipeline.sources",
    "SourceFile": "pipeline.sources",
    "SourceSet": "pipeline.sources",
    "Status": "pipeline.verdicts",
    "Usage": "pipeline.completion",
    "Verdict": "pipeline.verdicts",
    "builtin_recipes": "pipeline.recipes",
    "chunk_module": "pipeline.chunking",
    "extract_code": "pipeline.replies",
    "list_sources": "pipeline.sources",
    "load_config": "pipeline.config",
    "load_recipe": "pipeline.recipes",
    "plan_file": "pipeline.chunking",
    "splice": "pipeline.splicing",
    "validate": "pipeline.validation",
}

__all__ = [
    "Allowances",
    "ChatClient",
    "Chunk",
    "ChunkContext",
    "CodemillModelError",
    "CodemodFileEngine",
    "Completion",
    "ConfigError",
    "Extraction",
    "FatalModelError",
    "LLMEngine",
    "Ledger",
    "LedgerRow",
    "Limiter",
    "ModelSettings",
    "Policy",
    "Proposal",
    "Reason",
    "Recipe",
    "RecipeError",
    "ResponseCache",
    "RetryableModelError",
    "RunConfig",
    "RunMeta",
    "SkippedFile",
    "SourceFile",
    "SourceSet",
    "Status",
    "Usage",
    "Verdict",
    "builtin_recipes",
    "chunk_module",
    "extract_code",
    "list_sources",
    "load_config",
    "load_recipe",
    "plan_file",
    "splice",
    "validate",
]


def __getattr__(name: str) -> Any:
    """Import a public name's module the first time the name is used."""
    if name not in _HOMES:
        raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value
