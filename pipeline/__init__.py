"""codemill's library: everything that decides what a file becomes, with no Prefect import.

The orchestration layer (`flows/`) calls into these modules; nothing here imports `flows/`. The names below
are the public face; each lives in a small module with one job (see ARCHITECTURE.md for the layout).
"""

from pipeline.cache import ResponseCache
from pipeline.chunking import Chunk, ChunkContext, chunk_module, plan_file, splice
from pipeline.config import ConfigError, RunConfig, load_config
from pipeline.engines import CodemodFileEngine, LLMEngine, Proposal
from pipeline.errors import CodemillModelError, FatalModelError, RetryableModelError
from pipeline.ledger import Ledger, LedgerRow, RunMeta
from pipeline.limiter import Limiter
from pipeline.model import ChatClient, Completion, ModelSettings, Usage
from pipeline.policy import Allowances, Policy
from pipeline.recipes import Recipe, RecipeError, builtin_recipes, load_recipe
from pipeline.replies import Extraction, extract_code
from pipeline.sources import SkippedFile, SourceFile, SourceSet, list_sources
from pipeline.validation import validate
from pipeline.verdicts import Reason, Status, Verdict

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
