"""Group commit on real PostgreSQL (plumbing/group_commit.py): concurrent requests share one
transaction, each gets its own answer or refusal, a request the database refuses fails
alone, keys are claimed, replayed and released as run_once does."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from plumbing.auth import Principal
from plumbing.group_commit import Answer, GroupCommit
from plumbing.problems import Problem

pytestmark = pytest.mark.integration
WHO = Principal("partner", "p1")


class Notes:
    """Work: a note's text; `apply_many` records which transaction stored each."""

    def __init__(self) -> None:
        self.calls = 0

    async def apply_many(self, conn: asyncpg.Connection, texts: list[str]) -> list[Answer | Exception]:
        self.calls += 1
        out: list[Answer | Exception] = []
        for text in texts:
            if text == "refused":
                out.append(Problem(409, "refused", "Refused"))
                continue
            # 'bad' breaks the statement (a NUL byte): the database refuses it.
            n = await conn.fetchval(
                "INSERT INTO notes (text, tx) VALUES ($1, txid_current()) RETURNING id", text.replace("bad", "\x00")
            )
            out.append(Answer(201, {"id": n, "text": text}))
        return out


@pytest.fixture
async def notes(pool):  # type: ignore[no-untyped-def]
    await pool.execute("CREATE TABLE notes (id serial PRIMARY KEY, text text NOT NULL, tx bigint NOT NULL)")
    return pool


async def outcome(group: GroupCommit[str], text: str, key: str | None = None):  # type: ignore[no-untyped-def]
    try:
        return await group.submit(WHO, text, key, {"text": text})
    except Exception as exc:  # noqa: BLE001 - the request's own refusal or failure
        return exc


async def test_concurrent_requests_share_a_transaction_and_keep_their_own_answers(notes):
    work = Notes()
    group = GroupCommit(notes, work.apply_many, "test", window_s=0.05, connections=1)
    texts = [f"n{i}" for i in range(20)] + ["refused", "bad"]
    results = await asyncio.gather(*(outcome(group, t) for t in texts))
    stored = await notes.fetch("SELECT text, tx FROM notes ORDER BY id")
    assert [r["text"] for r in stored] == [f"n{i}" for i in range(20)]  # in queue order, 'bad' alone failed
    assert len({r["tx"] for r in stored}) == 1  # one transaction for all of them
    assert [r.body["text"] for r in results[:20]] == texts[:20]
    assert isinstance(results[20], Problem) and results[20].status == 409
    assert isinstance(results[21], asyncpg.PostgresError)


async def test_keys_are_claimed_replayed_and_released(notes):
    work = Notes()
    group = GroupCommit(notes, work.apply_many, "test", window_s=0.02, connections=1)
    first = await outcome(group, "hello", key="k1")
    again = await outcome(group, "hello", key="k1")
    assert first.status == again.status == 201 and again.body == first.body and again.replayed
    other = await outcome(group, "other", key="k1")
    assert isinstance(other, Problem) and other.status == 422  # the key with another payload
    failed = await outcome(group, "bad", key="k2")
    assert isinstance(failed, asyncpg.PostgresError)
    assert await notes.fetchval("SELECT count(*) FROM idempotency_keys WHERE key = 'k2'") == 0  # released
    assert (await outcome(group, "good", key="k2")).status == 201  # so a retry goes through
    assert await notes.fetchval("SELECT count(*) FROM notes") == 2


async def test_a_group_that_cannot_commit_fails_every_request_and_releases_their_keys(notes):
    async def broken(conn: asyncpg.Connection, texts: list[str]) -> list[Answer | Exception]:
        await conn.execute("INSERT INTO notes (text, tx) VALUES ('x', txid_current())")
        return [Answer(201, {}) if t != "refused" else Problem(409, "refused", "Refused") for t in texts]

    await notes.execute("CREATE FUNCTION never() RETURNS trigger LANGUAGE plpgsql AS"
                        " $$ BEGIN RAISE EXCEPTION 'no commit'; END $$")
    # Checked at commit: the group's work succeeds, its commit fails.
    await notes.execute("CREATE CONSTRAINT TRIGGER never AFTER INSERT ON notes DEFERRABLE INITIALLY DEFERRED"
                        " FOR EACH ROW EXECUTE FUNCTION never()")
    group = GroupCommit(notes, broken, "test", window_s=0.05, connections=1)
    results = await asyncio.gather(outcome(group, "a", key="ka"), outcome(group, "refused", key="kb"))
    assert all(isinstance(r, asyncpg.PostgresError) for r in results)  # the refusal too: nothing is in
    assert await notes.fetchval("SELECT count(*) FROM notes") == 0
    assert await notes.fetchval("SELECT count(*) FROM idempotency_keys") == 0


async def test_a_group_takes_a_savepoint_only_when_something_in_it_is_refused(notes, monkeypatch):
    started: list[bool] = []  # each transaction started: nested (a savepoint) or not
    start = asyncpg.transaction.Transaction.start

    async def recording(self):  # type: ignore[no-untyped-def]
        await start(self)
        started.append(self._nested)

    monkeypatch.setattr(asyncpg.transaction.Transaction, "start", recording)
    work = Notes()
    group = GroupCommit(notes, work.apply_many, "test", window_s=0.05, connections=1)
    fine = await asyncio.gather(*(outcome(group, f"ok{i}") for i in range(5)), outcome(group, "refused"))
    assert [type(r).__name__ for r in fine] == ["Answer"] * 5 + ["Problem"]
    assert started == [False] and work.calls == 1  # one transaction, no savepoint
    started.clear()
    mixed = await asyncio.gather(*(outcome(group, t) for t in ("a", "bad", "c", "d")))
    assert isinstance(mixed[1], asyncpg.PostgresError)
    assert [isinstance(r, Answer) for r in mixed] == [True, False, True, True]
    assert started[0] is False and True in started  # tried whole, then in halves, each in a savepoint
    stored = await notes.fetch("SELECT text FROM notes WHERE text = ANY($1) ORDER BY id", ["a", "c", "d"])
    assert [r["text"] for r in stored] == ["a", "c", "d"]
