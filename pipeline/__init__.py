"""codemill's library: everything that decides what a file becomes, with no Prefect import.

The orchestration layer (`flows/`) calls into these modules; nothing here imports `flows/`. The names below
are the public face; each lives in a small module with one job (docs/architecture.md draws the layout).
They load on first use, so importing one module (the validator, say) does not pull in the HTTP client
or GitPython.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.config import ConfigError, RunConfig, load_config
    from pipeline.engines.codemod_files import CodemodFileEngine
    from pipeline.engines.model_engine import LLMEngine
    from pipeline.engines.proposal import Proposal
    from pipeline.judge.policy import Allowances, Policy
    from pipeline.judge.replies import Extraction, extract_code
    from pipeline.judge.validation import validate
    from pipeline.judge.verdicts import Reason, Status, Verdict
    from pipeline.model.cache import ResponseCache
    from pipeline.model.client import ChatClient
    from pipeline.model.completion import Completion, Usage
    from pipeline.model.errors import CodemillModelError, FatalModelError, RetryableModelError
    from pipeline.model.limiter import Limiter
    from pipeline.model.request import ModelSettings
    from pipeline.recipes.loading import Recipe, RecipeError, builtin_recipes, load_recipe
    from pipeline.records.ledger import Ledger, LedgerRow, RunMeta
    from pipeline.source.chunking import Chunk, ChunkContext, chunk_module, plan_file
    from pipeline.source.files import SkippedFile, SourceFile, SourceSet, list_sources
    from pipeline.source.splicing import splice

_HOMES = {
    "Allowances": "pipeline.judge.policy",
    "ChatClient": "pipeline.model.client",
    "Chunk": "pipeline.source.chunking",
    "ChunkContext": "pipeline.source.chunking",
    "CodemillModelError": "pipeline.model.errors",
    "CodemodFileEngine": "pipeline.engines.codemod_files",
    "Completion": "pipeline.model.completion",
    "ConfigError": "pipeline.config",
    "Extraction": "pipeline.judge.replies",
    "FatalModelError": "pipeline.model.errors",
    "LLMEngine": "pipeline.engines.model_engine",
    "Ledger": "pipeline.records.ledger",
    "LedgerRow": "pipeline.records.ledger",
    "Limiter": "pipeline.model.limiter",
    "ModelSettings": "pipeline.model.request",
    "Policy": "pipeline.judge.policy",
    "Proposal": "pipeline.engines.proposal",
    "Reason": "pipeline.judge.verdicts",
    "Recipe": "pipeline.recipes.loading",
    "RecipeError": "pipeline.recipes.loading",
    "ResponseCache": "pipeline.model.cache",
    "RetryableModelError": "pipeline.model.errors",
    "RunConfig": "pipeline.config",
    "RunMeta": "pipeline.records.ledger",
    "SkippedFile": "pipeline.source.files",
    "SourceFile": "pipeline.source.files",
    "SourceSet": "pipeline.source.files",
    "Status": "pipeline.judge.verdicts",
    "Usage": "pipeline.model.completion",
    "Verdict": "pipeline.judge.verdicts",
    "builtin_recipes": "pipeline.recipes.loading",
    "chunk_module": "pipeline.source.chunking",
    "extract_code": "pipeline.judge.replies",
    "list_sources": "pipeline.source.files",
    "load_config": "pipeline.config",
    "load_recipe": "pipeline.recipes.loading",
    "plan_file": "pipeline.source.chunking",
    "splice": "pipeline.source.splicing",
    "validate": "pipeline.judge.validation",
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
