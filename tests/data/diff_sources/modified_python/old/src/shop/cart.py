"""A shopping cart."""

from decimal import Decimal


class Cart:
    """Items and their quantities."""

    def __init__(self):
        self.items = {}

    def add(self, sku, quantity=1):
        if quantity <= 0:
            raise ValueError("quantity must be positive")
        self.items[sku] = self.items.get(sku, 0) + quantity

    def remove(self, sku):
        del self.items[sku]

    def count(self):
        return sum(self.items.values())


def legacy_total(cart, prices):
    # kept for the old checkout page
    total = 0
    for sku, quantity in cart.items.items():
        total += prices[sku] * quantity
    return total


def format_price(amount):
    return f"{amount:.2f}"


def currency():
    return "EUR"


def tax_rate():
    return 0.2


def shipping(weight):
    return 5 if weight < 10 else 12


def discount(code):
    return {"WELCOME": 0.1}.get(code, 0)
