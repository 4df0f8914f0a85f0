import unittest
from decimal import Decimal

from legacy_app import Customer, Inventory, Order, Product
from legacy_app.summary import order_summary, stock_report, totals_by_state


class SummaryTest(unittest.TestCase):
    def setUp(self):
        self.pen = Product("PEN-1", "Pen", "2.00")
        self.inventory = Inventory()
        self.inventory.add_product(self.pen, 3)
        self.customer = Customer("c@example.com", "Carol", discount=Decimal("0.5"))

    def test_order_summary(self):
        order = Order(9, self.customer)
        order.add(self.pen, 2)
        expected = "\n".join(
            [
                "Order #9 for Carol (draft)",
                "  2 x Pen = 4.00",
                "Subtotal: 4.00 EUR",
                "Discount: -2.00 EUR",
                "Tax: 0.40 EUR",
                "Total: 2.40 EUR",
            ]
        )
        self.assertEqual(order_summary(order), expected)

    def test_stock_report_flags_low(self):
        report = stock_report(self.inventory, ["PEN-1"], threshold=5)
        self.assertEqual(report, "PEN-1          3 LOW")
        self.assertEqual(stock_report(self.inventory, ["PEN-1"]), "PEN-1          3")
        self.assertEqual(stock_report(self.inventory, []), "(no products)")

    def test_totals_by_state(self):
        first, second = Order(1, self.customer), Order(2, self.customer)
        first.add(self.pen)
        second.add(self.pen, 2)
        second.cancel()
        self.assertEqual(totals_by_state([first, second]), {"cancelled": "2.40 EUR", "draft": "1.20 EUR"})

    def test_greetings(self):
        self.assertEqual(self.customer.greeting(), "Hello Carol")
        vip = Customer("v@example.com", "Vic", vip=True)
        self.assertTrue(vip.greeting().startswith("Dear Vic"))


if __name__ == "__main__":
    unittest.main()
