"""Stock levels per SKU, with reservations for orders being placed."""

import logging
from typing import Dict, Iterable, List, Optional, Tuple

from legacy_app.errors import InventoryError, OutOfStock
from legacy_app.models import Product

log = logging.getLogger(__name__)


class Inventory(object):
    def __init__(self, products: Optional[Iterable[Product]] = None):
        self._products = {}  # type: Dict[str, Product]
        self._stock = {}  # type: Dict[str, int]
        for product in products or []:
            self.add_product(product)

    def add_product(self, product: Product, quantity: int = 0) -> None:
        if product.sku in self._products:
            raise InventoryError(product.sku, "already registered")
        self._products[product.sku] = product
        self._stock[product.sku] = quantity

    def product(self, sku: str) -> Product:
        try:
            return self._products[sku]
        except KeyError:
            raise InventoryError(sku, "unknown product")

    def available(self, sku: str) -> int:
        self.product(sku)
        return self._stock[sku]

    def restock(self, sku: str, quantity: int) -> int:
        if quantity <= 0:
            raise InventoryError(sku, "restock quantity must be positive, got %d" % quantity)
        self.product(sku)
        self._stock[sku] += quantity
        log.info("restocked %s with %d units", sku, quantity)
        return self._stock[sku]

    def take(self, sku: str, quantity: int) -> None:
        have = self.available(sku)
        if quantity > have:
            raise OutOfStock(sku, quantity, have)
        self._stock[sku] = have - quantity

    def take_all(self, wanted: List[Tuple[str, int]]) -> None:
        """Take every line or none: check the whole list before touching any stock."""
        for sku, quantity in wanted:
            if quantity > self.available(sku):
                raise OutOfStock(sku, quantity, self.available(sku))
        for sku, quantity in wanted:
            self.take(sku, quantity)

    def low_stock(self, threshold: int = 5) -> List[str]:
        result = []
        for sku in sorted(self._stock):
            if self._stock[sku] < threshold:
                result.append(sku)
        return result

    def find(self, tag: Optional[str] = None, max_price=None) -> List[Product]:
        found = []
        for product in self._products.values():
            if tag is not None:
                if not product.has_tag(tag):
                    continue
            if max_price is not None:
                if product.price > max_price:
                    continue
            found.append(product)
        return sorted(found, key=lambda p: p.sku)
