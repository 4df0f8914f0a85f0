"""Exceptions raised by the app."""


class InventoryError(Exception):
    def __init__(self, sku, message):
        super(InventoryError, self).__init__("%s: %s" % (sku, message))
        self.sku = sku


class OutOfStock(InventoryError):
    def __init__(self, sku, wanted, available):
        super(OutOfStock, self).__init__(
            sku, "wanted {} but only {} in stock".format(wanted, available)
        )
        self.wanted = wanted
        self.available = available


class OrderError(Exception):
    pass
