"""A small inventory and orders app, written in pre-3.10 Python on purpose (codemill's example)."""

from legacy_app._version import __version__
from legacy_app.errors import InventoryError, OrderError, OutOfStock
from legacy_app.inventory import Inventory
from legacy_app.models import Customer, Product
from legacy_app.orders import Order, OrderLine

__all__ = [
    "Customer",
    "Inventory",
    "InventoryError",
    "Order",
    "OrderError",
    "OrderLine",
    "OutOfStock",
    "Product",
    "__version__",
]
