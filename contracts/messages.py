"""Whole-message models (envelope + typed data) per event type, for documentation.

On the wire an event is one CloudEvents JSON document. These models describe exactly that
document for one event type, so AsyncAPI can show a channel's messages in full. Runtime
code reads `Envelope` and `payload_of`; nothing validates against these.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from pydantic import create_model

from contracts import compat
from contracts.envelope import Envelope
from contracts.events import Payload
from contracts.registry import PAYLOADS, dataschema, latest_type


@cache
def message_model(payload: type[Payload]) -> type[Envelope]:
    return create_model(
        f"{payload.__name__}Message",
        __base__=Envelope,
        __doc__=f"CloudEvents message `{payload.event_type}` on topic `{payload.topic.name}`: {payload.__doc__ or ''}",
        type=(Literal[payload.event_type], ...),  # type: ignore[valid-type]
        dataschema=(Literal[dataschema(payload)], dataschema(payload)),  # type: ignore[valid-type]
        data=(payload, ...),
    )


def versions_of(handled: set[str]) -> list[type[Payload]]:
    """Every version of the event types a consumer handles (older ones are upcast)."""
    return [m for m in PAYLOADS.values() if latest_type(m.event_type) in handled]


def accepted_on(topic: str, handled: set[str]) -> list[type[Payload]]:
    """Those of `versions_of(handled)` that are published on `topic`."""
    return [m for m in versions_of(handled) if m.topic.name == topic]


def schema_of(models: list[type[Payload]]) -> dict[str, Any]:
    """A self-contained JSON Schema: one of the given events' whole messages."""
    if not models:
        raise ValueError("no event types to document")
    branches = [compat.resolve(message_model(m).model_json_schema(mode="serialization")) for m in models]
    return branches[0] if len(branches) == 1 else {"oneOf": branches}
