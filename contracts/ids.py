"""Event ids: time-ordered UUIDs (version 7, RFC 9562), made cheaply.

An event id is the key of three B-tree indexes on its way (the producer's outbox, every
consumer's inbox, outcomes' ledger). Random (version 4) ids land anywhere in those indexes,
so every insert touches a different leaf page; ids that grow with time are appended at the
right-hand edge, where the pages are already in memory.

Layout (RFC 9562 section 5.7, with section 6.2 method 3 for the sub-millisecond bits):
48 bits of Unix time in milliseconds, the version (7), 12 bits of the millisecond's fraction,
the variant (0b10), 62 random bits. The time part never goes back within a process (a step
back of the clock, or two ids in the same 1/4096 ms, take the last one's time plus one), so
a process's ids sort in the order it made them; ids of different processes interleave by
time. The random bits come from `os.urandom` a few kilobytes at a time (one call per id was
most of `uuid4`'s cost), and a forked child starts a fresh supply, never its parent's.

Readers must not depend on the version: ids written before this module were version 4, and
an id is only ever compared for equality (de-duplication) or used as a key.
"""

from __future__ import annotations

import os
import struct
import threading
import time
import uuid

_BATCH = 512  # random 64-bit words per os.urandom call (4 KB)
_WORDS = struct.Struct(f"<{_BATCH}Q")
_VERSION_AND_VARIANT = (0x7 << 76) | (0b10 << 62)
_RANDOM_62 = (1 << 62) - 1

_lock = threading.Lock()
_words: tuple[int, ...] = ()
_next = _BATCH
_last = 0  # the last id's 60 time bits (milliseconds << 12 | fraction)


def _restart() -> None:
    global _words, _next, _last
    _words, _next, _last = (), _BATCH, 0


os.register_at_fork(after_in_child=_restart)

_new_uuid = object.__new__
_set = object.__setattr__
_UNKNOWN = uuid.SafeUUID.unknown


def time_ordered_int() -> int:
    """A new id's 128 bits (`new_event_id`'s, as an int)."""
    global _words, _next, _last
    ns = time.time_ns()
    ms, rest = divmod(ns, 1_000_000)
    stamp = (ms << 12) | (rest * 4096 // 1_000_000)
    with _lock:
        if stamp <= _last:
            stamp = _last + 1
        _last = stamp
        if _next >= _BATCH:
            _words, _next = _WORDS.unpack(os.urandom(_WORDS.size)), 0
        word = _words[_next]
        _next += 1
    return ((stamp >> 12) << 80) | ((stamp & 0xFFF) << 64) | _VERSION_AND_VARIANT | (word & _RANDOM_62)


def new_event_id() -> uuid.UUID:
    """A new time-ordered event id (UUID version 7)."""
    # uuid.UUID(int=...) checks its arguments one by one (a third of the cost here); the value
    # is in range by construction, so it is set as UUID.__init__ itself sets it.
    value = _new_uuid(uuid.UUID)
    _set(value, "int", time_ordered_int())
    _set(value, "is_safe", _UNKNOWN)
    return value
