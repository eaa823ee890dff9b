"""`store.ledger_data` (pydantic_core's parser) reads the ledger's event data as json.loads did:
every value, its type and float bits, for what the envelopes carry and for numbers in the plain
decimal form PostgreSQL's jsonb writes them in (never an exponent)."""

from __future__ import annotations

import json
import math
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from bench.outcomes_ledger import make_stream
from contracts import Envelope
from services.outcomes import store


def same(a: object, b: object) -> bool:
    """Equal, and of the same types all the way down (1 is not 1.0; floats bit for bit)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return math.copysign(1, a) == math.copysign(1, b) and a.hex() == b.hex()  # type: ignore[arg-type]
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))  # type: ignore[arg-type]
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(v, b[k]) for k, v in a.items())  # type: ignore[index]
    return a == b


def jsonb_number(x: float | int) -> str:
    """How jsonb writes a number: a numeric, in plain decimal notation."""
    return format(Decimal(repr(x)) if isinstance(x, float) else Decimal(x), "f")


def test_the_benchmarks_event_data_reads_as_before() -> None:
    for _, _, value in make_stream(5, 300).records:
        text = json.dumps(Envelope.from_bytes(value).data)
        assert same(store.ledger_data(text), json.loads(text))


scalars = st.none() | st.booleans() | st.integers(-(10**30), 10**30) | st.text() | st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                           max_leaves=20)


@given(json_values)
def test_any_json_value_reads_as_json_loads_reads_it(value: object) -> None:
    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False)):
        assert same(store.ledger_data(text), json.loads(text))


@given(st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(10**40), 10**40))
def test_numbers_in_jsonbs_form_read_as_json_loads_reads_them(x: float | int) -> None:
    text = f'{{"n": {jsonb_number(x)}, "l": [{jsonb_number(x)}]}}'
    assert same(store.ledger_data(text), json.loads(text))
