"""Which failures belong to the infrastructure and which to the record in hand.

The delivery policy (docs/architecture.md, "Delivery policy") treats the two differently:

- an **infrastructure fault** (PostgreSQL or Kafka unreachable, a lost connection, a
  serialization failure or deadlock, a lock or statement timeout, the database shutting
  down) says nothing about the record: the consumer pauses and tries the same batch again,
  for as long as it takes, and never spends the record's dead-letter budget on it;
- anything else is taken to belong to the record (or key) being applied: it is retried a
  few times, then dead-lettered (a consumer) or parked (an outbox row).

Exceptions are classified by what they are, along their `__cause__`/`__context__` chain,
so a fault wrapped by a handler is still recognised.
"""

from __future__ import annotations

import asyncio

import asyncpg
from aiokafka import errors as kafka_errors

# SQLSTATE classes that describe the server or the session, never the data sent:
# 08 connection exception, 40 transaction rollback (serialization failure, deadlock),
# 53 insufficient resources, 57 operator intervention (statement timeout/cancel, shutdown,
# cannot connect now), 58 system error (I/O).
_TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57", "58"})
_TRANSIENT_SQLSTATES = frozenset({"55P03"})  # lock_not_available (lock_timeout)

# Kafka errors that say the cluster is away or busy, not that the record is bad. aiokafka
# marks most of them `retriable`; these are the ones it does not (a timed-out send, a
# closed producer during a restart).
_KAFKA_INFRASTRUCTURE = (
    kafka_errors.KafkaConnectionError,
    kafka_errors.KafkaTimeoutError,
    kafka_errors.NodeNotReadyError,
    kafka_errors.RequestTimedOutError,
    kafka_errors.NotEnoughReplicasError,
    kafka_errors.NotEnoughReplicasAfterAppendError,
    kafka_errors.UnknownTopicOrPartitionError,
    kafka_errors.ProducerClosed,
    kafka_errors.CoordinatorNotAvailableError,
    kafka_errors.NotCoordinatorError,
    kafka_errors.OutOfOrderSequenceNumber,  # the producer renews itself (plumbing/kafka.py)
    kafka_errors.UnknownProducerId,
)


class InfrastructureFault(Exception):
    """A batch could not be applied because PostgreSQL or Kafka failed; try it again later."""


def is_infrastructure(exc: BaseException) -> bool:
    """True when `exc` (or what caused it) is a fault of the database or the broker."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _is_infrastructure_itself(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _is_infrastructure_itself(exc: BaseException) -> bool:
    if isinstance(exc, InfrastructureFault):
        return True
    if isinstance(exc, asyncpg.PostgresError):
        state = getattr(exc, "sqlstate", None) or ""
        return state[:2] in _TRANSIENT_SQLSTATE_CLASSES or state in _TRANSIENT_SQLSTATES
    if isinstance(exc, asyncpg.exceptions._base.InternalClientError):  # noqa: SLF001 - not exported
        # "cannot switch to state …; another operation is in progress": a connection the
        # server dropped mid-operation.
        return True
    if isinstance(exc, asyncpg.InterfaceError):
        # "connection is closed", "pool is closing", "cannot ... the underlying connection
        # is closed"; other interface errors (wrong argument count) are bugs, not outages.
        text = str(exc).lower()
        return "closed" in text or "closing" in text or "connection" in text
    if isinstance(exc, kafka_errors.KafkaError):
        return bool(getattr(exc, "retriable", False)) or isinstance(exc, _KAFKA_INFRASTRUCTURE)
    # Sockets refused or reset, DNS failures, timeouts waiting for a pool or a broker.
    return isinstance(exc, (OSError, asyncio.TimeoutError, TimeoutError, ConnectionError))


def describe(exc: BaseException, limit: int = 2000) -> str:
    """A one-line reason for logs, dead letters and parked rows, bounded in length."""
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= limit else text[: limit - 1] + "…"
