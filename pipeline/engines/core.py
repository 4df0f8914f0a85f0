"""The two engines that turn a chunk into a Proposal: the model (with repair turns) and libcst codemods.

An engine never writes a file: it returns, per chunk, the proposed text and the verdict on it. Provider
errors that doom every later request (a refused key, no credits) propagate as `FatalModelError` so the
run can stop early; everything else ends as a Proposal with a status and a reason.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pipeline.engines.codemod_module import (
    ChunkMappingError,
    CodemodEngine,
    CodemodError,
    proposals_for_chunks,
)
from pipeline.judge.policy import Policy
from pipeline.judge.replies import extract_code
from pipeline.judge.validation import validate
from pipeline.judge.verdicts import Reason, Status, Verdict
from pipeline.model.cache import ResponseCache
from pipeline.model.client import ChatClient
from pipeline.model.completion import Completion, Usage
from pipeline.model.errors import CodemillModelError, FatalModelError, NotSent
from pipeline.recipes.loading import Recipe
from pipeline.source.chunking import Chunk
from pipeline.source.files import SourceFile

_FUTURE_ANNOTATIONS = re.compile(
    r"^from\s+__future__\s+import\s+[^\n]*\bannotations\b", re.MULTILINE
)

# Third-party list prices for MiniMax-M2.1 (USD per million tokens), used only when the provider reports no
# cost: see MODEL_API.md. The provider's own usd_spent, when present, is the truth.
PRICE_INPUT = 0.30
PRICE_OUTPUT = 1.20
PRICE_CACHED_INPUT = 0.03
COST_SLACK = 1e-9  # USD; far below any answer's cost, far above float rounding of their sum


def estimate_cost(usage: Usage) -> float:
    """A cost estimate from token counts at list prices, for providers that report none."""
    fresh_input = max(usage.prompt_tokens - usage.cached_tokens, 0)
    return (
        fresh_input * PRICE_INPUT
        + usage.cached_tokens * PRICE_CACHED_INPUT
        + usage.completion_tokens * PRICE_OUTPUT
    ) / 1_000_000


def usd(amount: float) -> str:
    """A dollar amount in cents, or with every digit it has below a cent ($0.025 is not $0.03)."""
    return f"${amount:.2f}" if round(amount, 2) == amount else f"${amount:.6g}"


def completion_cost(completion: Completion) -> float:
    """What one answer cost: the provider's figure when it gives one, else the list-price estimate."""
    if completion.from_cache:
        return 0.0
    if completion.cost_usd:
        return completion.cost_usd
    return estimate_cost(completion.usage)


def has_future_annotations(chunk: Chunk) -> bool:
    """True when the chunk's module has `from __future__ import annotations` (annotations are lazy)."""
    return bool(_FUTURE_ANNOTATIONS.search(chunk.context.imports))


@dataclass
class Proposal:
    """An engine's answer for one chunk: the new text (when accepted), the verdict, and its cost."""

    chunk: Chunk
    verdict: Verdict
    new_text: str | None = None
    attempts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float = 0.0
    cache_hit: bool = False
    latency_s: float = 0.0
    model: str | None = None
    gates: dict[str, str] = field(
        default_factory=dict
    )  # gate -> decision (pipeline.gates.combined)

    def add(self, completion: Completion) -> float:
        """Count one answer's tokens, cost and latency into this proposal; the answer's cost."""
        cost = completion_cost(completion)
        self.attempts += 1
        self.prompt_tokens += completion.usage.prompt_tokens
        self.completion_tokens += completion.usage.completion_tokens
        self.reasoning_tokens += completion.usage.reasoning_tokens
        self.cached_tokens += completion.usage.cached_tokens
        self.cost_usd += cost
        self.latency_s += 0.0 if completion.from_cache else completion.latency_s
        self.model = completion.model or self.model
        return cost


class FatalProposalError(FatalModelError):
    """A run-ending provider error, carrying the chunk's proposal: earlier turns' usage was paid for."""

    def __init__(self, error: FatalModelError, proposal: Proposal) -> None:
        super().__init__(str(error))
        self.status_code = error.status_code
        self.proposal = proposal


@dataclass
class SpendMeter:
    """The run's spending against `--max-cost`: once reached, no new request is sent."""

    max_cost: float | None = None
    spent: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, cost: float) -> None:
        with self._lock:
            self.spent += cost

    @property
    def exhausted(self) -> bool:
        # Float sums fall just short (ten $0.01 answers add up to 0.09999999999999999): a nano-dollar
        # of slack makes a limit that was reached count as reached.
        return self.max_cost is not None and self.spent >= self.max_cost - COST_SLACK


@dataclass
class RunStop:
    """A flag every coroutine of the run checks: set by the first fatal provider error."""

    reason: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def set(self, reason: str) -> None:
        with self._lock:
            if self.reason is None:
                self.reason = reason

    @property
    def stopped(self) -> bool:
        return self.reason is not None


class LLMEngine:
    """Prompt, call (through the cache), extract, validate; on a rejection, repair turns."""

    name = "llm"

    def __init__(
        self,
        client: ChatClient,
        recipe: Recipe,
        policy: Policy,
        *,
        cache: ResponseCache | None = None,
        refresh_cache: bool = False,
        repair_turns: int = 1,
        meter: SpendMeter | None = None,
        stop: RunStop | None = None,
    ) -> None:
        self.client = client
        self.recipe = recipe
        self.policy = policy
        self.cache = cache
        self.refresh_cache = refresh_cache
        self.repair_turns = repair_turns
        self.meter = meter or SpendMeter()
        self.stop = stop or RunStop()
        params = recipe.params
        self._params: dict[str, float | int | None] = {
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "seed": params.seed,
        }

    async def refactor(self, chunk: Chunk) -> Proposal:
        """Ask for a new version of the chunk; raises FatalProposalError only for run-ending errors."""
        proposal = Proposal(chunk, Verdict.unchanged(), model=self.client.settings.model)
        messages = self.recipe.render_messages(chunk, target_python=self.policy.target_python)
        future = has_future_annotations(chunk)
        hits = 0
        for _turn in range(1 + self.repair_turns):
            try:
                completion = await self._complete(messages)
            except NotSent:
                if not proposal.attempts:  # after a turn, that turn's rejection stands
                    proposal.verdict = self._blocked() or Verdict(Status.SKIPPED, Reason.BUDGET)
                return proposal
            except FatalModelError as exc:
                self.stop.set(str(exc))
                proposal.verdict = Verdict(Status.FAILED, Reason.PROVIDER_ERROR, str(exc))
                raise FatalProposalError(exc, proposal) from exc
            except CodemillModelError as exc:
                proposal.verdict = Verdict(Status.FAILED, Reason.PROVIDER_ERROR, str(exc))
                return proposal
            self.meter.add(proposal.add(completion))
            hits += completion.from_cache
            proposal.cache_hit = hits == proposal.attempts
            code, verdict = self._judge(chunk, completion, future)
            proposal.verdict = verdict
            if verdict.status is not Status.REJECTED:
                proposal.new_text = code if verdict.status is Status.ACCEPTED else None
                return proposal
            messages = [
                *messages,
                {"role": "assistant", "content": completion.content},  # think block kept
                self.recipe.repair_message(verdict.detail),
            ]
        return proposal

    def _admission(self) -> str | None:
        """Asked by the client once a request holds a slot: why it may not be sent, if anything."""
        blocked = self._blocked()
        return None if blocked is None else blocked.detail

    def _blocked(self) -> Verdict | None:
        """Why no new request may be sent now, if anything stops it."""
        if self.stop.stopped:
            return Verdict(Status.SKIPPED, Reason.FATAL_STOP, f"not sent: {self.stop.reason}")
        limit = self.meter.max_cost
        if limit is not None and self.meter.exhausted:
            return Verdict(
                Status.SKIPPED,
                Reason.BUDGET,
                f"not sent: the run reached its cost limit of {usd(limit)}.",
            )
        return None

    async def _complete(self, messages: Sequence[Mapping[str, str]]) -> Completion:
        key = None
        if self.cache is not None:
            key = self.cache.key(
                base_url=self.client.settings.base_url,
                model=self.client.settings.model,
                params=self._params,
                messages=messages,
            )
            if not self.refresh_cache:
                cached = self.cache.get(key)
                if cached is not None:
                    return cached
        completion = await self.client.complete(
            messages,
            admit=self._admission,
            **self._params,  # type: ignore[arg-type]
        )
        if self.cache is not None and key is not None:
            self.cache.put(key, completion)
        return completion

    def _judge(
        self, chunk: Chunk, completion: Completion, future: bool
    ) -> tuple[str | None, Verdict]:
        extraction = extract_code(completion.content, finish_reason=completion.finish_reason)
        if extraction.code is None:
            reason = extraction.reason or Reason.NO_CODE
            return None, Verdict.rejected(reason, extraction.detail)
        verdict = validate(
            chunk,
            extraction.code,
            policy=self.policy,
            finish_reason=completion.finish_reason,
            module_has_future_annotations=future,
        )
        return extraction.code, verdict


class CodemodFileEngine:
    """Run a recipe's libcst codemods over a whole file and judge each chunk's share of the result."""

    name = "codemod"

    def __init__(self, recipe: Recipe, policy: Policy, *, budget: int) -> None:
        self.engine = CodemodEngine(recipe)
        self.policy = policy
        self.budget = budget

    def refactor_file(self, source: SourceFile, chunks: Sequence[Chunk]) -> list[Proposal]:
        """One Proposal per chunk (merged chunks where the codemods moved a boundary)."""
        started = time.perf_counter()
        try:
            new_text = self.engine.refactor_file(source.path, source.text)
            pairs = proposals_for_chunks(
                chunks, new_text, old_text=source.text, budget=self.budget, bom=source.bom
            )
        except (CodemodError, ChunkMappingError) as exc:
            verdict = Verdict.rejected(Reason.CODEMOD_ERROR, str(exc))
            return [Proposal(chunk, verdict, attempts=1) for chunk in chunks]
        elapsed = (time.perf_counter() - started) / max(len(pairs), 1)
        proposals = []
        for chunk, proposed in pairs:
            verdict = validate(
                chunk,
                proposed,
                policy=self.policy,
                module_has_future_annotations=has_future_annotations(chunk),
            )
            new = proposed if verdict.status is Status.ACCEPTED else None
            proposals.append(Proposal(chunk, verdict, new, attempts=1, latency_s=elapsed))
        return proposals
