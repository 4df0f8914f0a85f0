import unittest
from decimal import Decimal

from legacy_app import Customer, Inventory, Order, OrderError, OutOfStock, Product
from legacy_app.orders import RushOrder
from legacy_app.pricing import apply_discount, format_money, money, tax_for


class PricingTest(unittest.TestCase):
    def test_money_rounds_half_up(self):
        self.assertEqual(money("2.675"), Decimal("2.68"))
        self.assertEqual(format_money(Decimal("3")), "3.00 EUR")

    def test_discount_bounds(self):
        self.assertEqual(apply_discount(Decimal("100"), Decimal("0.1")), Decimal("90.00"))
        with self.assertRaises(ValueError):
            apply_discount(Decimal("100"), Decimal("1"))

    def test_tax(self):
        self.assertEqual(tax_for(Decimal("10"), "US"), Decimal("0.70"))
        with self.assertRaises(KeyError) as cm:
            tax_for(Decimal("10"), "MARS")
        self.assertIn("'MARS'", str(cm.exception))


class OrderTest(unittest.TestCase):
    def setUp(self):
        self.pen = Product("PEN-1", "Pen", "1.50")
        self.desk = Product("DSK-9", "Desk", "249.00")
        self.inventory = Inventory([self.pen, self.desk])
        self.inventory.restock("PEN-1", 20)
        self.inventory.restock("DSK-9", 1)
        self.alice = Customer("alice@example.com", "Alice")
        self.bob = Customer("bob@example.com", "Bob", vip=True)

    def test_lines_merge_by_product(self):
        order = Order(1, self.alice)
        order.add(self.pen, 2)
        order.add(self.pen)
        self.assertEqual(len(order.lines), 1)
        self.assertEqual(order.lines[0].quantity, 3)
        self.assertEqual(order.lines[0].describe(), "3 x Pen = 4.50")

    def test_totals_with_vip_discount(self):
        order = Order(2, self.bob)
        order.add(self.desk)
        self.assertEqual(order.subtotal(), Decimal("249.00"))
        self.assertEqual(order.discount(), Decimal("24.90"))
        self.assertEqual(order.tax(), Decimal("44.82"))
        self.assertEqual(order.total(), Decimal("268.92"))

    def test_place_takes_stock(self):
        order = Order(3, self.alice)
        order.add(self.pen, 5)
        order.place(self.inventory)
        self.assertEqual(order.state, "placed")
        self.assertEqual(self.inventory.available("PEN-1"), 15)
        self.assertRaises(OrderError, order.add, self.pen)

    def test_place_without_stock_changes_nothing(self):
        order = Order(4, self.alice)
        order.add(self.pen, 1)
        order.add(self.desk, 2)
        self.assertRaises(OutOfStock, order.place, self.inventory)
        self.assertEqual(order.state, "draft")
        self.assertEqual(self.inventory.available("PEN-1"), 20)

    def test_empty_order_cannot_be_placed(self):
        with self.assertRaises(OrderError) as cm:
            Order(5, self.alice).place(self.inventory)
        self.assertEqual(str(cm.exception), "order 5 has no lines")

    def test_cancel_restocks(self):
        order = Order(6, self.alice)
        order.add(self.pen, 4)
        order.place(self.inventory)
        order.cancel(self.inventory)
        self.assertEqual(order.state, "cancelled")
        self.assertEqual(self.inventory.available("PEN-1"), 20)

    def test_bad_quantity(self):
        self.assertRaises(OrderError, Order(7, self.alice).add, self.pen, 0)

    def test_rush_order_adds_fee(self):
        order = RushOrder(8, self.alice, region="US", fee=10)
        order.add(self.pen, 2)
        self.assertEqual(order.total(), Decimal("13.21"))
        self.assertTrue(isinstance(order, Order))


if __name__ == "__main__":
    unittest.main()
