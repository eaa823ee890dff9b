"""The amount of money a supportive-service form may give (services/portal/money.py): the request's
amount asked and the provider's delivered value are checked by the one rule, and what the portal
lets through the contracts' Money takes."""

from __future__ import annotations

import pytest

from contracts.events import Money
from services.portal import money, support_provider, support_requests
from services.portal.support_provider import Answering
from services.portal.support_requests import ServiceRequestForm

pytestmark = pytest.mark.unit

CASES = [
    ("", "", {}),
    ("  ", "usd", {}),  # no amount: its currency is not read
    ("120.50", "USD", {}),
    ("0", "EUR", {}),
    ("9999999999.99", "USD", {}),  # the contracts' largest amount
    ("1,20", "USD", {"amount": "bad_amount"}),
    ("1.205", "USD", {"amount": "bad_amount"}),
    ("-3", "USD", {"amount": "bad_amount"}),
    ("10000000000", "USD", {"amount": "bad_amount"}),
    ("\u0661\u0662", "USD", {"amount": "bad_amount"}),  # digits, but not the ASCII ones the contracts take
    ("12", "usd", {"currency": "bad_currency"}),
    ("12", "", {"currency": "bad_currency"}),
    ("x", "US", {"amount": "bad_amount", "currency": "bad_currency"}),
]


@pytest.mark.parametrize(("amount", "currency", "found"), CASES)
def test_both_forms_check_an_amount_by_the_one_rule(amount: str, currency: str, found: dict[str, str]) -> None:
    assert money.problems(amount, currency) == found
    asked = ServiceRequestForm("ref_1", "prov_1", "transportation", "a ride", amount, currency, "f1")
    delivered = Answering("deliver", "f2", delivered_on="2027-01-04", amount=amount, currency=currency)
    assert asked.problems() == found and delivered.problems() == found
    for code in found.values():
        assert support_requests.MESSAGES[code] == support_provider.MESSAGES[code] == money.MESSAGES[code]


@pytest.mark.parametrize(("amount", "currency"), [(a, c) for a, c, found in CASES if not found and a.strip()])
def test_an_amount_let_through_is_sent_as_the_contracts_money(amount: str, currency: str) -> None:
    sent = money.body(f" {amount} ", f"{currency} ")
    assert sent == {"amount": amount, "currency": currency}
    Money.model_validate(sent)
    asked = ServiceRequestForm("ref_1", "prov_1", "transportation", "a ride", amount, currency, "f1").body()
    assert asked["amount_requested"] == sent
    assert Answering("deliver", "f2", delivered_on="2027-01-04", amount=amount, currency=currency).body() == {
        "delivered_on": "2027-01-04",
        "value": sent,
    }


def test_no_amount_sends_none() -> None:
    assert money.body(" ", "USD") is None
    assert "amount_requested" not in ServiceRequestForm("ref_1", "p", "food", "r", "", "USD", "f").body()
    assert Answering("deliver", "f", delivered_on="2027-01-04").body() == {"delivered_on": "2027-01-04"}
