"""What a model's tokens cost, when anyone knows: list prices only for the model they belong to.

A provider's own figure (`meta.usage.usd_spent`) is the truth for a run's cost; prices are for the
answers that come without one and for forecasts. MiniMax-M2.1's third-party list prices apply to that
model alone: a local llama.cpp or Ollama model has no price unless the user gives one, and its cost is
then unknown, shown as such, never as MiniMax's figure or as zero.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pipeline.model.completion import Usage

PER = 1_000_000  # prices are USD per million tokens


@dataclass(frozen=True)
class Prices:
    """USD per million tokens of fresh input, cached input and output, and where they come from."""

    input: float
    output: float
    cached_input: float | None = None  # None: cached input costs what fresh input does
    source: str = ""

    def cost(self, usage: Usage) -> float | None:
        """The cost of `usage` at these prices; None when the server did not report the counts."""
        if usage.unreported:
            return None
        cached = min(usage.cached_tokens, usage.prompt_tokens)
        cached_price = self.input if self.cached_input is None else self.cached_input
        return (
            (usage.prompt_tokens - cached) * self.input
            + cached * cached_price
            + usage.completion_tokens * self.output
        ) / PER


# MiniMax-M2.1 through the AI/ML API: about $0.30/M input, $1.20/M output, $0.03/M cached input
# (third-party figures, docs/provider.md). Keyed by the id codemill sends and the name it answers with.
MINIMAX_M2_1 = Prices(0.30, 1.20, 0.03, source="MiniMax-M2.1 list prices")
LIST_PRICES: Mapping[str, Prices] = {"minimax/m2-1": MINIMAX_M2_1, "minimax-m2.1": MINIMAX_M2_1}


def prices_for(
    model: str,
    *,
    price_input: float | None = None,
    price_output: float | None = None,
    table: Iterable[tuple[str, float, float]] = (),
) -> Prices | None:
    """The prices of `model`: the flags, else its entry in [tool.codemill.prices], else its list
    prices; None (cost unknown) for a model nobody priced.

    Only both flags together price a model (half a price would make a forecast that is wrong by half).
    """
    if price_input is not None and price_output is not None:
        return Prices(price_input, price_output, source="--price-input/--price-output")
    for name, input_price, output_price in table:
        if name == model:
            return Prices(input_price, output_price, source=f"[tool.codemill.prices] {model}")
    return LIST_PRICES.get(model.lower())


def cost_text(known: float, unpriced: int) -> str:
    """A cost for people: "$0.0123", "unknown (3 answers unpriced)", or both when part is known."""
    if not unpriced:
        return f"${known:.4f}"
    answers = f"{unpriced} answer{'s' if unpriced != 1 else ''}"
    if known:
        return f"${known:.4f} + unknown for {answers} with no price"
    return f"unknown ({answers} with no price: give --price-input/--price-output)"
