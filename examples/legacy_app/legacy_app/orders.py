"""Orders: lines of products for a customer, priced and placed against the inventory."""

from decimal import Decimal
from typing import List, Optional, Union

from legacy_app.errors import OrderError
from legacy_app.inventory import Inventory
from legacy_app.models import Customer, Product
from legacy_app.pricing import apply_discount, line_total, tax_for

Number = Union[int, Decimal]


class OrderLine(object):
    def __init__(self, product: Product, quantity: int):
        if quantity <= 0:
            raise OrderError("quantity must be positive, got %s" % quantity)
        self.product = product
        self.quantity = quantity

    @property
    def total(self) -> Decimal:
        return line_total(self.product.price, self.quantity)

    def describe(self) -> str:
        return "{} x {} = {:.2f}".format(self.quantity, self.product.name, self.total)


class Order(object):
    STATES = ("draft", "placed", "cancelled")

    def __init__(self, number: int, customer: Customer, region: str = "EU"):
        self.number = number
        self.customer = customer
        self.region = region
        self.lines = []  # type: List[OrderLine]
        self.state = "draft"

    def add(self, product: Product, quantity: Number = 1) -> OrderLine:
        if self.state != "draft":
            raise OrderError("order %d is %s and cannot change" % (self.number, self.state))
        for line in self.lines:
            if line.product == product:
                line.quantity += int(quantity)
                return line
        line = OrderLine(product, int(quantity))
        self.lines.append(line)
        return line

    def subtotal(self) -> Decimal:
        return sum([line.total for line in self.lines], Decimal("0"))

    def discount(self) -> Decimal:
        return self.subtotal() - apply_discount(self.subtotal(), self.customer.effective_discount())

    def tax(self) -> Decimal:
        return tax_for(self.subtotal() - self.discount(), self.region)

    def total(self) -> Decimal:
        return self.subtotal() - self.discount() + self.tax()

    def place(self, inventory: Inventory) -> None:
        if not self.lines:
            raise OrderError("order %d has no lines" % self.number)
        if self.state != "draft":
            raise OrderError("order %d is already %s" % (self.number, self.state))
        inventory.take_all([(line.product.sku, line.quantity) for line in self.lines])
        self.state = "placed"

    def cancel(self, inventory: Optional[Inventory] = None) -> None:
        if self.state == "placed" and inventory is not None:
            for line in self.lines:
                inventory.restock(line.product.sku, line.quantity)
        self.state = "cancelled"


class RushOrder(Order):
    def __init__(self, number: int, customer: Customer, region: str = "EU", fee: Number = 15):
        super(RushOrder, self).__init__(number, customer, region)
        self.fee = Decimal(fee)

    def total(self) -> Decimal:
        return super(RushOrder, self).total() + self.fee
