"""The model engine: prompt, call through the cache, extract, validate; repair turns after a rejection.

Provider errors that doom every later request (a refused key, no credits) propagate as
`FatalProposalError` so the run can stop early; everything else ends as a Proposal with a status and a
reason.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import BrokenExecutor, Executor, ThreadPoolExecutor
from typing import TypeVar

from pipeline.config import RunConfig
from pipeline.engines.proposal import FatalProposalError, Proposal, has_future_annotations
from pipeline.engines.spend import RunStop, SpendMeter, usd
from pipeline.judge.looping import looping, normalized
from pipeline.judge.names import ModuleNames
from pipeline.judge.policy import Policy
from pipeline.judge.replies import extract_code
from pipeline.judge.validation import judge_answer
from pipeline.judge.verdicts import Reason, Status, Verdict
from pipeline.model.attempts import Attempt
from pipeline.model.cache import ResponseCache
from pipeline.model.client import ChatClient
from pipeline.model.completion import Completion, Usage
from pipeline.model.errors import (
    AnswerTooLarge,
    CodemillModelError,
    ContextTooLong,
    FatalModelError,
    NotSent,
)
from pipeline.model.forecast import forecast_request
from pipeline.model.prices import Prices, prices_for
from pipeline.recipes.loading import Recipe
from pipeline.source.chunking import Chunk

T = TypeVar("T")

# The one way a turn that is not sent after an answer is told (the earlier answer's reason stands).
NO_ROOM = "no further turn: the context window has no room left for the chunk rewritten"


@functools.cache
def judge_thread() -> ThreadPoolExecutor:
    """Where answers are judged when the run gives no judge pool: one thread, so the event loop shares
    the GIL with one busy thread at most (a pool of them would starve it)."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="codemill-judge")


def judge_reply(
    chunk: Chunk,
    content: str,
    finish_reason: str | None,
    policy: Policy,
    future: bool,
    names: ModuleNames | None,
) -> tuple[str | None, Verdict]:
    """The code of a reply as it would be spliced and the verdict on it (picklable in and out: it runs
    in a judge process or thread, never on the event loop). A looping answer is `degenerate` first."""
    loop = looping(content, normalized(chunk.text))
    if loop is not None:
        return None, Verdict.rejected(Reason.DEGENERATE, loop)
    extraction = extract_code(content, finish_reason=finish_reason)
    if extraction.code is None:
        reason = extraction.reason or Reason.NO_CODE
        return None, Verdict.rejected(reason, extraction.detail)
    judged = judge_answer(
        chunk,
        extraction.code,
        policy=policy,
        finish_reason=finish_reason,
        module_has_future_annotations=future,
        names=names,
    )
    return judged.text, judged.verdict


def turn_record(kind: str, completion: Completion | None, cost: float) -> dict[str, object]:
    """The ledger's record of one model turn: what it was for, its tokens, its cost, its verdict
    (a turn that got no answer has no tokens)."""
    return {
        "turn": kind,  # answer | repair (a rejection) | gate (a gate's failure)
        "prompt_tokens": completion.usage.prompt_tokens if completion else 0,
        "completion_tokens": completion.usage.completion_tokens if completion else 0,
        "cost_usd": round(cost, 8),
        "cache_hit": completion.from_cache if completion else False,
        "verdict": "",
    }


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
        prices: Prices | None = None,
        judges: Executor | None = None,
    ) -> None:
        self.client = client
        self.judges = judges  # where answers are judged: a process pool, or None for judge_thread()
        self.prices = prices or prices_for(client.settings.model)  # None: the cost is unknown
        self.recipe = recipe
        self.policy = policy
        self.cache = cache
        self.refresh_cache = refresh_cache
        self.repair_turns = repair_turns
        self.meter = meter or SpendMeter()
        self.stop = stop or RunStop()
        self._names: dict[str, ModuleNames] = {}  # path -> the base module's bindings
        self._params = recipe.params.request_fields()

    @classmethod
    def from_config(
        cls,
        client: ChatClient,
        recipe: Recipe,
        policy: Policy,
        config: RunConfig,
        *,
        cache: ResponseCache | None = None,
        meter: SpendMeter | None = None,
        stop: RunStop | None = None,
        prices: Prices | None = None,
        judges: Executor | None = None,
    ) -> LLMEngine:
        """The engine a run's config asks for: its repair turns, cache refresh and spend limit (the
        run's own `meter` when it has one)."""
        return cls(
            client,
            recipe,
            policy,
            cache=cache,
            refresh_cache=config.refresh_cache,
            repair_turns=config.repair_turns,
            meter=meter or SpendMeter(config.max_cost),
            stop=stop,
            prices=prices,
            judges=judges,
        )

    async def selects(self, chunk: Chunk) -> bool:
        """Whether the recipe selects the chunk, decided off the event loop (its matchers parse it)."""
        return await self.off_loop(functools.partial(self.recipe.selects, chunk))

    async def off_loop(self, work: Callable[[], T]) -> T:
        """`work()` in the judge pool (or thread), never on the loop; in the thread if a judge died."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self.judges or judge_thread(), work)
        except BrokenExecutor:  # a judge process died (on this work or another): do it here
            self.judges = None
            return await loop.run_in_executor(judge_thread(), work)

    async def refactor(self, chunk: Chunk, names: ModuleNames | None = None) -> Proposal:
        """Ask for a new version of the chunk; raises FatalProposalError only for run-ending errors.

        `names` are the base module's bindings (`pipeline.judge.names.module_names`, once per file):
        without them, undefined names are not checked. Kept per path for later (gate) turns.
        """
        if names is not None:
            self._names[chunk.path] = names
        proposal = Proposal(chunk, Verdict.unchanged(), model=self.client.settings.model)
        messages = self.recipe.render_messages(chunk, target_python=self.policy.target_python)
        proposal.forecast = forecast_request(messages, chunk.text)
        for turn in range(1 + self.repair_turns):
            completion = await self._ask(proposal, messages, "repair" if turn else "answer")
            if completion is None or await self._settle(proposal, messages, completion):
                return proposal
            messages = [*proposal.conversation, self.recipe.repair_message(proposal.verdict.detail)]
        return proposal

    async def gate_turn(self, proposal: Proposal, message: Mapping[str, str]) -> bool:
        """One more turn for a chunk a gate dropped: the conversation so far (think block kept), then
        `message` with the failure; True when the new answer passes the per-chunk proof again."""
        messages = [*proposal.conversation, dict(message)]
        completion = await self._ask(proposal, messages, "gate")
        if completion is None:
            return False
        await self._settle(proposal, messages, completion)
        return proposal.verdict.status is Status.ACCEPTED

    async def _ask(
        self, proposal: Proposal, messages: Sequence[Mapping[str, str]], kind: str
    ) -> Completion | None:
        """One turn's answer counted into the proposal, or None with the verdict saying why not."""
        try:
            completion = await self._complete(messages, proposal)
        except ContextTooLong as exc:
            if exc.sent:  # the server's own overflow answer: a turn, never retried
                _unanswered(proposal, kind, Reason.TOO_LONG)
            proposal.verdict = self._too_long(proposal, exc)
            return None
        except AnswerTooLarge as exc:  # no repair turn: it would send the answer back
            if exc.completion is not None:
                self._count(proposal, exc.completion, kind)["verdict"] = str(Reason.TOO_LARGE)
            proposal.verdict = Verdict.rejected(Reason.TOO_LARGE, str(exc))
            return None
        except NotSent:
            if not proposal.turns:  # after a turn, that turn's rejection stands
                proposal.verdict = self._blocked() or Verdict(Status.SKIPPED, Reason.BUDGET)
            return None
        except FatalModelError as exc:
            _unanswered(proposal, kind, Reason.PROVIDER_ERROR)
            self.stop.set(str(exc))
            proposal.verdict = Verdict(Status.FAILED, Reason.PROVIDER_ERROR, str(exc))
            raise FatalProposalError(exc, proposal) from exc
        except CodemillModelError as exc:
            _unanswered(proposal, kind, Reason.PROVIDER_ERROR)
            proposal.verdict = Verdict(Status.FAILED, Reason.PROVIDER_ERROR, str(exc))
            return None
        self._count(proposal, completion, kind)
        return completion

    def _count(self, proposal: Proposal, completion: Completion, kind: str) -> dict[str, object]:
        """Count one answered turn's tokens and cost into the proposal and the run; its record."""
        cost = proposal.add(completion, self.prices)
        self.meter.add(cost)
        proposal.turns.append(turn_record(kind, completion, cost))
        return proposal.turns[-1]

    @staticmethod
    def _too_long(proposal: Proposal, exc: ContextTooLong) -> Verdict:
        """The verdict when a turn does not fit the window: the chunk's first turn makes it `too-long`;
        after an answer (a repair or gate turn, its conversation longer), that answer's rejection
        stands, saying NO_ROOM (whether codemill or the server found it)."""
        earlier = proposal.verdict
        if earlier.status is Status.UNCHANGED:  # no answer yet
            return Verdict(
                Status.REJECTED if exc.sent else Status.SKIPPED, Reason.TOO_LONG, str(exc)
            )
        return Verdict(earlier.status, earlier.reason, f"{earlier.detail}; {NO_ROOM}")

    async def _settle(
        self, proposal: Proposal, messages: Sequence[Mapping[str, str]], completion: Completion
    ) -> bool:
        """Judge the answer into the proposal; True when it is final (not a rejection to repair).

        The judging (parse, compile, interface and scope checks: tens of ms) runs in the judge pool
        (or thread), so the event loop carrying every other chunk's request is never held for it.
        """
        chunk = proposal.chunk
        judging = functools.partial(
            judge_reply,
            chunk,
            completion.content,
            completion.finish_reason,
            self.policy,
            has_future_annotations(chunk),
            self._names.get(chunk.path),
        )
        code, verdict = await self.off_loop(judging)
        proposal.verdict = verdict
        proposal.turns[-1]["verdict"] = str(verdict.reason or verdict.status)
        answer = {"role": "assistant", "content": completion.content}  # its think block kept
        proposal.conversation = [*(dict(m) for m in messages), answer]
        proposal.new_text = code if verdict.status is Status.ACCEPTED else None
        return verdict.status is not Status.REJECTED

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

    async def _complete(
        self, messages: Sequence[Mapping[str, str]], proposal: Proposal
    ) -> Completion:
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
            answer_for=proposal.chunk.text,  # the room left must hold it rewritten
            on_attempt=functools.partial(_record_attempt, proposal),
            **self._params,  # type: ignore[arg-type]
        )
        if self.cache is not None and key is not None:
            self.cache.put(key, completion)
        return completion


def _unanswered(proposal: Proposal, kind: str, reason: Reason) -> None:
    """Record a turn that was sent and got no answer, only `reason` (its attempts are in requests)."""
    proposal.turns.append(turn_record(kind, None, 0.0))
    proposal.turns[-1]["verdict"] = str(reason)


def _record_attempt(proposal: Proposal, attempt: Attempt) -> None:
    """Keep every HTTP attempt on the proposal; a failed one counts as an attempt with its latency
    (an answered one is counted with its answer)."""
    proposal.requests.append(attempt)
    if not attempt.ok:
        proposal.usage += Usage(attempts=1, latency_s=attempt.latency_s)
