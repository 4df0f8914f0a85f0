import unittest
from decimal import Decimal

from legacy_app import Inventory, InventoryError, OutOfStock, Product


class InventoryTest(unittest.TestCase):
    def setUp(self):
        self.inventory = Inventory()
        self.pen = Product("PEN-1", "Pen", "1.50", tags=["Office", "cheap"])
        self.desk = Product("DSK-9", "Desk", "249.00", tags=["office", "furniture"])
        self.inventory.add_product(self.pen, 10)
        self.inventory.add_product(self.desk, 2)

    def test_available(self):
        self.assertEqual(self.inventory.available("PEN-1"), 10)
        self.assertEqual(self.inventory.available("DSK-9"), 2)

    def test_unknown_sku(self):
        with self.assertRaises(InventoryError) as cm:
            self.inventory.available("NOPE")
        self.assertEqual(str(cm.exception), "NOPE: unknown product")
        self.assertEqual(cm.exception.sku, "NOPE")

    def test_duplicate_product(self):
        self.assertRaises(InventoryError, self.inventory.add_product, self.pen)

    def test_restock(self):
        self.assertEqual(self.inventory.restock("DSK-9", 3), 5)
        with self.assertRaises(InventoryError):
            self.inventory.restock("DSK-9", 0)

    def test_take_and_out_of_stock(self):
        self.inventory.take("PEN-1", 4)
        self.assertEqual(self.inventory.available("PEN-1"), 6)
        with self.assertRaises(OutOfStock) as cm:
            self.inventory.take("DSK-9", 3)
        self.assertEqual(cm.exception.wanted, 3)
        self.assertEqual(cm.exception.available, 2)
        self.assertIn("wanted 3 but only 2 in stock", str(cm.exception))

    def test_take_all_is_all_or_nothing(self):
        with self.assertRaises(OutOfStock):
            self.inventory.take_all([("PEN-1", 5), ("DSK-9", 7)])
        self.assertEqual(self.inventory.available("PEN-1"), 10)
        self.inventory.take_all([("PEN-1", 5), ("DSK-9", 2)])
        self.assertEqual(self.inventory.available("DSK-9"), 0)

    def test_low_stock(self):
        self.assertEqual(self.inventory.low_stock(), ["DSK-9"])
        self.assertEqual(self.inventory.low_stock(threshold=11), ["DSK-9", "PEN-1"])

    def test_find(self):
        self.assertEqual(self.inventory.find(tag="OFFICE"), [self.desk, self.pen])
        self.assertEqual(self.inventory.find(tag="office", max_price=Decimal("10")), [self.pen])
        self.assertEqual(self.inventory.find(tag="garden"), [])


class ProductTest(unittest.TestCase):
    def test_label_and_repr(self):
        pen = Product("PEN-1", "Pen", "1.5")
        self.assertEqual(pen.label(), "Pen (PEN-1) @ 1.50")
        self.assertEqual(repr(pen), "Product('PEN-1', 'Pen', '1.5')")
        self.assertEqual(pen.to_dict(), {"sku": "PEN-1", "name": "Pen", "price": "1.5"})

    def test_needs_sku(self):
        self.assertRaises(ValueError, Product, "", "Nothing", "1")

    def test_tags_are_case_insensitive(self):
        self.assertTrue(Product("A", "a", "1", tags=["Red"]).has_tag("RED"))
        self.assertFalse(Product("A", "a", "1").has_tag("red"))


if __name__ == "__main__":
    unittest.main()
