"""A batch is decoded whole with the garbage collector paused (`RecordConsumer._decode_all`),
and what decoding raised is classified and dead-lettered as before, record by record, in order."""

from __future__ import annotations

import gc
import uuid
from collections.abc import Sequence

from contracts import ContractError
from plumbing.consumer import Item, Poison, Record, RecordConsumer


class Probe(RecordConsumer):
    """Decodes b"ok..." to an item, b"skip" to None, and raises for the rest; records whether
    the collector ran automatically at each decode, the dead letters and what was applied."""

    def __init__(self) -> None:
        super().__init__("decode_probe", pool=None, producer=None)  # type: ignore[arg-type]
        self.collector_on: list[bool] = []
        self.letters: list[tuple[int, str, str]] = []
        self.applied: list[int] = []

    def decode(self, record: Record) -> Item | None:
        self.collector_on.append(gc.isenabled())
        value = record.value or b""
        if value.startswith(b"ok"):
            return Item(record, uuid.uuid4(), "probe.ok.v1")
        if value == b"skip":
            return None
        if value == b"poison":
            raise Poison("bad mapping", "MappingError")
        if value == b"contract":
            raise ContractError("record value is not JSON")
        raise RecursionError("too deep")

    async def dead_letter(
        self, record: Record, reason: str, error_type: str, attempts: int, extra: Sequence[tuple[str, bytes]] = ()
    ) -> None:
        self.letters.append((record.offset, reason, error_type))

    async def _apply_once(self, items: list[Item]) -> dict[uuid.UUID, str]:
        self.applied += [i.record.offset for i in items]
        return {i.claim_id: "applied" for i in items}


def records(*values: bytes) -> list[Record]:
    return [Record("t", 0, n, None, v) for n, v in enumerate(values)]


async def test_a_batch_is_decoded_with_the_collector_paused_and_its_poison_dead_lettered_in_order() -> None:
    probe = Probe()
    assert gc.isenabled()
    outcomes = await probe.process_batch(records(b"ok1", b"poison", b"skip", b"contract", b"ok2", b"deep", b"ok3"))

    assert probe.collector_on == [False] * 7
    assert gc.isenabled()
    assert probe.letters == [
        (1, "bad mapping", "MappingError"),
        (3, "contract: record value is not JSON", "ContractError"),
        (5, "undecodable: RecursionError: too deep", "RecursionError"),
    ]
    assert probe.applied == [0, 4, 6]
    assert outcomes == {"applied": 3, "dead_lettered": 3, "ignored": 1}


async def test_a_collector_that_was_off_stays_off() -> None:
    probe = Probe()
    gc.disable()
    try:
        await probe.process_batch(records(b"ok", b"poison"))
        assert not gc.isenabled()
    finally:
        gc.enable()
    assert probe.collector_on == [False, False] and len(probe.letters) == 1


async def test_a_poison_record_does_not_keep_its_batch_alive() -> None:
    """What decoding raised is kept without its traceback: its frames would hold every decoded
    item (and the raw records) of the batch until the next collection."""
    probe = Probe()
    batch = records(b"ok1", b"poison", b"deep")
    decoded = probe._decode_all(batch)
    assert [type(d).__name__ for d in decoded] == ["Item", "Poison", "RecursionError"]
    assert all(d.__traceback__ is None for d in decoded if isinstance(d, Exception))
    await probe.process_batch(batch)
    assert [n for n, *_ in probe.letters] == [1, 2]
