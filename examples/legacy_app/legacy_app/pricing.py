"""Money arithmetic: line totals, discounts and tax by region."""

from decimal import ROUND_HALF_UP, Decimal
from typing import Dict

CENT = Decimal("0.01")
TAX_RATES = {"EU": Decimal("0.20"), "US": Decimal("0.07"), "UK": Decimal("0.20")}  # type: Dict[str, Decimal]


def money(value) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def line_total(price: Decimal, quantity: int) -> Decimal:
    return money(price * quantity)


def apply_discount(amount: Decimal, rate: Decimal) -> Decimal:
    if rate < 0 or rate >= 1:
        raise ValueError("discount rate must be in [0, 1), got %s" % rate)
    return money(amount * (1 - rate))


def tax_for(amount: Decimal, region: str) -> Decimal:
    if region not in TAX_RATES:
        raise KeyError("no tax rate for region {!r}".format(region))
    return money(amount * TAX_RATES[region])


def format_money(amount: Decimal, currency: str = "EUR") -> str:
    return "%s %s" % (money(amount), currency)
