"""The model engine: prompt, call through the cache, extract, validate; repair turns after a rejection.

Provider errors that doom every later request (a refused key, no credits) propagate as
`FatalProposalError` so the run can stop early; everything else ends as a Proposal with a status and a
reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pipeline.config import RunConfig
from pipeline.engines.proposal import FatalProposalError, Proposal, has_future_annotations
from pipeline.engines.spend import RunStop, SpendMeter, usd
from pipeline.judge.policy import Policy
from pipeline.judge.replies import extract_code
from pipeline.judge.validation import validate
from pipeline.judge.verdicts import Reason, Status, Verdict
from pipeline.model.cache import ResponseCache
from pipeline.model.client import ChatClient
from pipeline.model.completion import Completion
from pipeline.model.errors import CodemillModelError, FatalModelError, NotSent
from pipeline.recipes.loading import Recipe
from pipeline.source.chunking import Chunk


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

    @classmethod
    def from_config(
        cls,
        client: ChatClient,
        recipe: Recipe,
        policy: Policy,
        config: RunConfig,
        *,
        cache: ResponseCache | None = None,
        stop: RunStop | None = None,
    ) -> LLMEngine:
        """The engine a run's config asks for: its repair turns, cache refresh and spend limit."""
        return cls(
            client,
            recipe,
            policy,
            cache=cache,
            refresh_cache=config.refresh_cache,
            repair_turns=config.repair_turns,
            meter=SpendMeter(config.max_cost),
            stop=stop,
        )

    async def refactor(self, chunk: Chunk) -> Proposal:
        """Ask for a new version of the chunk; raises FatalProposalError only for run-ending errors."""
        proposal = Proposal(chunk, Verdict.unchanged(), model=self.client.settings.model)
        messages = self.recipe.render_messages(chunk, target_python=self.policy.target_python)
        future = has_future_annotations(chunk)
        for _turn in range(1 + self.repair_turns):
            try:
                completion = await self._complete(messages)
            except NotSent:
                if not proposal.usage.attempts:  # after a turn, that turn's rejection stands
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
