"""Products and customers."""

from decimal import Decimal
from typing import Dict, List, Optional, Set


class Product(object):
    """A thing we sell, identified by its SKU."""

    def __init__(self, sku, name, price, tags=None):
        # type: (str, str, Decimal, Optional[List[str]]) -> None
        if not sku:
            raise ValueError("a product needs a SKU")
        self.sku = sku
        self.name = name
        self.price = Decimal(price)
        self.tags = set(tags or [])  # type: Set[str]

    def label(self) -> str:
        return "%s (%s) @ %.2f" % (self.name, self.sku, self.price)

    def has_tag(self, tag: str) -> bool:
        return tag.lower() in set([t.lower() for t in self.tags])

    def to_dict(self) -> Dict[str, object]:
        return dict([("sku", self.sku), ("name", self.name), ("price", str(self.price))])

    def __repr__(self):
        return "Product(%r, %r, %r)" % (self.sku, self.name, str(self.price))

    def __eq__(self, other):
        if not isinstance(other, Product):
            return NotImplemented
        return self.sku == other.sku


class Customer(object):
    def __init__(self, email: str, name: str, vip: bool = False, discount: Optional[Decimal] = None):
        self.email = email
        self.name = name
        self.vip = vip
        self.discount = discount

    def greeting(self) -> str:
        if self.vip:
            return "Dear {}, thank you for being a VIP customer".format(self.name)
        return "Hello {0}".format(self.name)

    def effective_discount(self) -> Decimal:
        if self.discount is not None:
            return self.discount
        if self.vip:
            return Decimal("0.10")
        return Decimal("0")
