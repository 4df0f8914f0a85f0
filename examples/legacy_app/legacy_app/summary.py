"""Plain-text summaries of orders and stock, for e-mails and the console."""

from typing import Dict, List, Optional

from legacy_app.inventory import Inventory
from legacy_app.orders import Order
from legacy_app.pricing import format_money


def order_summary(order: Order, currency: str = "EUR") -> str:
    lines = ["Order #%d for %s (%s)" % (order.number, order.customer.name, order.state)]
    for line in order.lines:
        lines.append("  " + line.describe())
    lines.append("Subtotal: {}".format(format_money(order.subtotal(), currency)))
    if order.discount():
        lines.append("Discount: -{}".format(format_money(order.discount(), currency)))
    lines.append("Tax: %s" % format_money(order.tax(), currency))
    lines.append("Total: %s" % format_money(order.total(), currency))
    return "\n".join(lines)


def stock_report(inventory: Inventory, skus: List[str], threshold: Optional[int] = None) -> str:
    if not skus:
        return f"(no products)"
    rows = []
    for sku in skus:
        count = inventory.available(sku)
        flag = ""
        if threshold is not None and count < threshold:
            flag = " LOW"
        rows.append("%-10s %5d%s" % (sku, count, flag))
    return "\n".join(rows)


def totals_by_state(orders: List[Order]) -> Dict[str, str]:
    totals = {}  # type: Dict[str, object]
    for order in orders:
        totals[order.state] = totals.get(order.state, 0) + order.total()
    return dict([(state, format_money(total)) for state, total in sorted(totals.items())])
