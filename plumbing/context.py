"""What a handler or a use case gets besides its input: the transaction it runs in and the
service's dependencies (settings, clock, vault, the outbox emitter).

They are passed in, never read from module globals or the system clock, so the same use case
runs from an HTTP route, an event handler or a test with a fixed clock, and a reader sees
every dependency in the signature. `Deps` is made once per process (`plumbing.service`);
`Context` binds it to one transaction's connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from contracts import Envelope
from contracts.events import Payload
from contracts.registry import Encoded, Envelopes, encode
from plumbing import clock as clocks
from plumbing import outbox
from plumbing.settings import Settings
from plumbing.vault import Vault

Clock = clocks.Clock
system_clock = clocks.system_clock


def source_of(service: str) -> str:
    """The CloudEvents `source` of a service's events: `/talentloop/employer-gateway`."""
    return "/talentloop/" + service.replace("_", "-")


@dataclass(frozen=True)
class Outgoing:
    """An event to emit, with what its envelope says of its cause (`Context.emit_many`)."""

    payload: Payload
    correlation_id: str
    causation_id: str | None = None
    partner_id: str | None = None
    employer_id: str | None = None
    time: datetime | None = None  # None: the context's clock, now
    # The trace context its outbox row keeps (`outbox.Trace`); None: the one current at
    # `emit_many`. A group commit writes several requests' events, each with its request's.
    trace: outbox.Trace | None = None


@dataclass(frozen=True)
class Deps:
    """A service's dependencies, the same for every transaction of the process."""

    source: str  # the CloudEvents `source` of what this service emits
    settings: Settings = field(default_factory=Settings)
    clock: Clock = system_clock
    vault: Vault | None = None
    # When the process's sweepers last swept, and at what time (for /health).
    sweeps: clocks.Sweeps = field(default_factory=clocks.Sweeps)

    @classmethod
    def of(cls, service: str, settings: Settings | None = None, vault: Vault | None = None) -> Deps:
        """The process's dependencies; its clock is the system's, or the simulated clock of
        TALENTLOOP_CLOCK_FILE (a local network only: refused otherwise, plumbing/clock.py)."""
        settings = settings or Settings()
        clock: Clock = system_clock
        if settings.clock_file is not None:
            clock = clocks.simulated(settings.clock_file, settings.kafka_bootstrap_servers, settings.database_url)
        return cls(source_of(service), settings, clock, vault)

    def bind(self, conn: asyncpg.Connection) -> Context:
        return Context(conn, self)


@dataclass(frozen=True)
class Context:
    """One transaction of a service: its connection, and the service's dependencies."""

    conn: asyncpg.Connection
    deps: Deps

    @property
    def settings(self) -> Settings:
        return self.deps.settings

    @property
    def vault(self) -> Vault:
        if self.deps.vault is None:
            raise RuntimeError(f"{self.deps.source} has no vault (its master key is not configured)")
        return self.deps.vault

    def now(self) -> datetime:
        return self.deps.clock()

    async def emit(
        self,
        payload: Payload,
        *,
        correlation_id: str,
        causation_id: str | None = None,
        partner_id: str | None = None,
        employer_id: str | None = None,
    ) -> Envelope:
        """Put an event in the outbox of this transaction, as this service."""
        (envelope,) = await self.emit_many([Outgoing(payload, correlation_id, causation_id, partner_id, employer_id)])
        return envelope

    async def emit_many(self, events: list[Outgoing]) -> Sequence[Envelope]:
        """Several events in the outbox of this transaction, in order, in one statement.

        Returns their envelopes, each made only when looked at: the record values are written
        straight from the payloads (`contracts.registry.encode`), and most callers never read
        the envelopes back.
        """
        return Envelopes(await self.emit_written(events))

    async def emit_written(self, events: list[Outgoing]) -> Sequence[Encoded]:
        """`emit_many`, answering the records as written: for a caller that stores a payload
        too, `value[data_at:-1]` is its JSON (when `data_at` is not 0), written once."""
        source = self.deps.source
        # The service's clock, not the system's: a use case run with a fixed or simulated
        # clock dates its events by it (a demo's year, a test's business-day deadline).
        moment = self.now()
        encoded = [
            encode(
                e.payload,
                source=source,
                correlation_id=e.correlation_id,
                causation_id=e.causation_id,
                partner_id=e.partner_id,
                employer_id=e.employer_id,
                time=moment if e.time is None else e.time,
            )
            for e in events
        ]
        if encoded:
            traces = [e.trace for e in events] if any(e.trace is not None for e in events) else None
            await outbox.enqueue_encoded(self.conn, encoded, traces)
        return encoded
