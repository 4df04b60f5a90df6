"""A shopping cart."""

from decimal import Decimal


class Cart:
    """Items and their quantities."""

    def __init__(self):
        self.items = {}

    def add(self, sku, quantity=1):
        if quantity < 1:
            raise ValueError(f"quantity must be at least 1, got {quantity}")
        self.items[sku] = self.items.get(sku, 0) + quantity

    def remove(self, sku):
        del self.items[sku]

    def count(self):
        return sum(self.items.values())


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


def total(cart, prices):
    return sum(Decimal(prices[sku]) * n for sku, n in cart.items.items())
