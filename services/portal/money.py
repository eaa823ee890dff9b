"""An amount of money a form may give (a supportive-service request's amount asked, a delivery's
value): one rule for both sides of supportive services, so a requester and a provider are told
the same about the same amount before the support service is asked."""

from __future__ import annotations

import re

from contracts.events import AMOUNT_PATTERN
from services.portal.messages import N_

AMOUNT = re.compile(AMOUNT_PATTERN)  # the contracts' own: up to 9,999,999,999.99, ASCII digits, a point
CURRENCY = re.compile(r"^[A-Z]{3}$")  # ISO 4217's form: three capital letters
MESSAGES = {
    "bad_amount": N_("Enter an amount such as 120.50, or leave it empty."),
    "bad_currency": N_("Enter a currency code of three capital letters, such as USD."),
}


def problems(amount: str, currency: str) -> dict[str, str]:
    """Field (`amount`, `currency`) -> message id (MESSAGES): none when no amount is given, else
    the amount's form and its currency's."""
    if not amount.strip():
        return {}
    found: dict[str, str] = {}
    if not AMOUNT.fullmatch(amount.strip()):
        found["amount"] = "bad_amount"
    if not CURRENCY.fullmatch(currency.strip()):
        found["currency"] = "bad_currency"
    return found


def body(amount: str, currency: str) -> dict[str, str] | None:
    """The support service's money (`{"amount", "currency"}`), None when no amount is given."""
    return {"amount": amount.strip(), "currency": currency.strip()} if amount.strip() else None
