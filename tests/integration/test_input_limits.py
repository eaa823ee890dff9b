"""Bounded input at intake's HTTP entry, on the real service app (`create_app` with intake's
definition and lifespan: PostgreSQL, migrations, the outbox relay to Kafka).

- Bodies over the limit are 413 problem details, declared or streamed, JSON or CSV.
- A referral with a field its event cannot carry is 422 naming the field (a 1.1 MB
  `training.provider`: 413 at the default JSON limit, 422 when the limit lets it through);
  good referrals sent after it still reach Kafka.
- A CSV with one bad row among good ones (a skill over the contract's bound, an impossible
  date) imports the good rows and reports the bad one; a line without its end past the
  row bound ends the import cleanly after the rows before it.
- A row the database or the event refuses after validation (simulated) costs only itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import shutil
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from contracts import Envelope, topics
from services.intake import domain
from talentloop import samples
from talentloop.network import free_port
from tests.kafka_helpers import read_topic
from tests.support.intake_app import RIVERBEND, intake_app

pytestmark = pytest.mark.integration
ADAPTERS = Path(__file__).parents[2] / "deploy" / "adapters"
FORGE = "forge-coding-bootcamp"
MiB = 1 << 20
CSV_LIMIT = 4 * MiB


@pytest.fixture(scope="module")
def adapters_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("adapters")
    shutil.copy(ADAPTERS / f"{RIVERBEND}.csv.yaml", folder)
    # The webhook adapter without its Kafka topic: this test is about HTTP.
    text = (ADAPTERS / f"{FORGE}.json.yaml").read_text().replace("kafka: true", "kafka: false")
    (folder / f"{FORGE}.json.yaml").write_text(text)
    return folder


@pytest.fixture(scope="module")
async def intake(stack, adapters_dir) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    """Default JSON limit (1 MiB, so a row may be 1 MiB too); a CSV limit small enough to test."""
    async with intake_app(stack, adapters_dir, TALENTLOOP_MAX_CSV_BODY_BYTES=CSV_LIMIT) as client:
        yield client


def referral(**over: Any) -> dict[str, Any]:
    n = uuid.uuid4().hex[:10]
    return {
        "external_id": f"lim-{n}",
        "candidate": {"given_name": "Lim", "family_name": f"It{n}", "email": f"lim-{n}@example.org"},
        "skills": ["Python", "SQL"],
        "training": {"program": "Data", "provider": "Forge"},
        "consent": {"share_with_employers": True, "given_at": "2026-01-05T10:00:00Z"},
        **over,
    }


def assert_problem(r: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    body = r.json()
    assert body["status"] == status and body["type"] == f"urn:talentloop:problem:{slug}", body
    return body


async def chunked(body: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for i in range(0, len(body), size):
        yield body[i : i + size]


async def on_kafka(stack: Any, referral_id: str) -> Envelope:
    """The referral's event, once the relay has published it (within 30 s)."""
    deadline = asyncio.get_running_loop().time() + 30.0
    while asyncio.get_running_loop().time() < deadline:
        records = await read_topic(stack.bootstrap, topics.REFERRALS.name, timeout=2.0)
        found = [r for r in records if r.key == referral_id.encode()]
        if found:
            return Envelope.from_bytes(found[0].value)
    raise AssertionError(f"{referral_id} never reached {topics.REFERRALS.name}")


# --- JSON ---------------------------------------------------------------------------------


async def test_a_json_body_over_the_limit_is_413_declared_or_streamed(intake, stack):
    big = referral(training={"program": "Data", "provider": "p" * 1_100_000})  # the 1.1 MB field
    body = httpx.Request("POST", "http://x", json=big).content
    assert MiB < len(body)
    r = await intake.post("/v1/referrals", content=body, headers={"content-type": "application/json"})
    problem = assert_problem(r, 413, "content-too-large")
    assert problem["max_bytes"] == MiB
    r = await intake.post("/v1/referrals", content=chunked(body), headers={"content-type": "application/json"})
    assert "content-length" not in r.request.headers
    assert_problem(r, 413, "content-too-large")
    # The webhook too (the partner's own shape): the limit is the service's, not the route's.
    r = await intake.post("/v1/webhooks/referrals", content=body, headers={"X-Partner": FORGE,
                                                                          "content-type": "application/json"})
    assert_problem(r, 413, "content-too-large")

    # Good traffic after it is accepted and published.
    r = await intake.post("/v1/referrals", json=referral())
    assert r.status_code == 201, r.text
    assert (await on_kafka(stack, r.json()["referral_id"])).type == "referral.submitted.v2"


async def test_a_field_beyond_the_contract_is_422_naming_it_when_the_body_is_within_the_limit(
    stack, adapters_dir
):
    async with intake_app(stack, adapters_dir, TALENTLOOP_MAX_JSON_BODY_BYTES=4 * MiB) as intake:
        big = referral(training={"program": "Data", "provider": "p" * 1_100_000})
        limit = domain._max_length(domain.events.Training, "provider")
        if limit is None:
            pytest.skip("contracts/events.py sets no bound on Training.provider yet")
        r = await intake.post("/v1/referrals", json=big)
        problem = assert_problem(r, 422, "validation")
        assert [e["field"] for e in problem["errors"]] == ["training.provider"]
        assert len(r.content) < 2000  # the answer does not echo the value

        r = await intake.post("/v1/referrals", json=referral())
        assert r.status_code == 201, r.text
        await on_kafka(stack, r.json()["referral_id"])


async def test_a_skill_beyond_the_contract_and_bad_characters_are_422_naming_the_field(intake, stack):
    r = await intake.post("/v1/referrals", json=referral(skills=["Python", "s" * 201]))
    problem = assert_problem(r, 422, "validation")
    assert [(e["field"], e["type"]) for e in problem["errors"]] == [("skills.1", "string_too_long")]

    # Valid for pydantic, impossible for PostgreSQL (a NUL): refused before anything is stored.
    r = await intake.post("/v1/referrals", json=referral(location="Chicago\x00"))
    problem = assert_problem(r, 422, "validation")
    assert [(e["field"], e["type"]) for e in problem["errors"]] == [("location", "invalid_character")]

    # The same through a partner's webhook: 422 in the partner's own field names, never 500.
    p = samples.person(1, run=uuid.uuid4().hex[:6])
    record = samples.forge_payload(p)
    record["data"]["graduate"]["skills"].append({"label": "k" * 201})
    r = await intake.post("/v1/webhooks/referrals", json=record, headers={"X-Partner": FORGE})
    problem = assert_problem(r, 422, "invalid-record")
    assert [(e["field"], e["code"]) for e in problem["errors"]] == [("data.graduate.skills[].label", "too-long")]
    record = samples.forge_payload(p)
    record["data"]["consent"]["at"] = "2026-02-30"
    r = await intake.post("/v1/webhooks/referrals", json=record, headers={"X-Partner": FORGE})
    problem = assert_problem(r, 422, "invalid-record")
    assert [(e["field"], e["code"]) for e in problem["errors"]] == [("data.consent.at", "bad-date")]

    # PATCH is held to the same bounds.
    r = await intake.post("/v1/referrals", json=referral())
    assert r.status_code == 201, r.text
    rid = r.json()["referral_id"]
    r = await intake.patch(f"/v1/referrals/{rid}", json={"location": "Chi\x00cago"})
    problem = assert_problem(r, 422, "validation")
    assert [e["field"] for e in problem["errors"]] == ["location"]
    r = await intake.patch(f"/v1/referrals/{rid}", json={"skills": ["Go", "g" * 201]})
    assert_problem(r, 422, "validation")


async def test_a_real_server_answers_413_that_clients_can_read(intake):
    """Over a socket (uvicorn, as the services run): an ordinary client that sends its whole
    body before reading (httpx) reads the 413, not a reset connection, with or without a
    Content-Length; a declared length far over the limit is answered on the headers alone;
    an endless chunked body is not read much past the limit."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(intake.app, host="127.0.0.1", port=port, log_config=None, lifespan="off"))
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.05)
        big = httpx.Request("POST", "http://x", json=referral(location="l" * 1_100_000)).content
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30.0) as client:
            for content in (big, chunked(big)):
                r = await client.post("/v1/referrals", content=content, headers={"content-type": "application/json"})
                assert_problem(r, 413, "content-too-large")
                assert r.headers["connection"] == "close"
            r = await client.post("/v1/referrals", json=referral())  # the next request, a new connection
            assert r.status_code == 201, r.text

        head = b"POST /v1/referrals HTTP/1.1\r\nHost: intake\r\nContent-Type: application/json\r\n"
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head + b"Content-Length: 50000000\r\n\r\n")  # and not a byte of it
        answer = await asyncio.wait_for(reader.read(), 10)  # read() returns at the close
        writer.close()
        assert answer.startswith(b"HTTP/1.1 413 ") and b'"max_bytes":1048576' in answer

        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head + b"Transfer-Encoding: chunked\r\n\r\n")
        sent, chunk = 0, b"%x\r\n%s\r\n" % (64 * 1024, b" " * 64 * 1024)
        with contextlib.suppress(ConnectionError):
            while sent < 50 * MiB and not reader.at_eof():
                writer.write(chunk)
                await writer.drain()
                sent += 64 * 1024
        writer.close()
        assert sent < 16 * MiB  # the server closed the connection soon after the limit and its drain
    finally:
        server.should_exit = True
        await serving


# --- CSV ----------------------------------------------------------------------------------

COLUMNS = list(samples.riverbend_row(samples.person(0)).keys())


def riverbend_csv(n: int, run: str, change: Callable[[int, dict[str, str]], None] | None = None) -> bytes:
    rows = []
    for i in range(n):
        row = samples.riverbend_row(samples.person(i, run=run), run=run)
        if change is not None:
            change(i, row)
        rows.append(row)
    return samples.csv_text(COLUMNS, rows).encode()


async def upload(client: httpx.AsyncClient, data: bytes | Any, **headers: str) -> httpx.Response:
    if isinstance(data, bytes):
        return await client.post("/v1/imports", files={"file": ("export.csv", data, "text/csv")}, headers=headers)
    return await client.post("/v1/imports", content=data, headers=headers)


async def test_a_csv_over_its_limit_is_413_declared_or_streamed(intake):
    pad = b"x" * (CSV_LIMIT + 1)
    r = await upload(intake, pad)
    problem = assert_problem(r, 413, "content-too-large")
    assert problem["max_bytes"] == CSV_LIMIT

    request = intake.build_request("POST", "/v1/imports", files={"file": ("export.csv", pad, "text/csv")})
    body = b"".join(request.stream)  # type: ignore[arg-type]
    r = await upload(intake, chunked(body), **{"content-type": request.headers["content-type"]})
    assert "content-length" not in r.request.headers
    assert_problem(r, 413, "content-too-large")


async def test_one_oversized_skill_among_good_rows_is_that_rows_error(intake, stack):
    run = uuid.uuid4().hex[:6]
    bad_rows = {137: "too-long", 612: "bad-date"}  # 0-based; spreadsheet row = index + 2

    def spoil(i: int, row: dict[str, str]) -> None:
        if i == 137:
            row["COMPETENCIES"] += "|" + "s" * 201
        if i == 612:
            row["RELEASE_DT"] = "20260230"

    r = await upload(intake, riverbend_csv(700, run, spoil), accept="application/json")
    assert r.status_code == 201, r.text
    summary = r.json()
    assert summary["status"] == "done" and summary["failure"] is None
    assert (summary["rows"], summary["accepted"], summary["rejected"]) == (700, 698, 2)
    report = list(csv.DictReader(io.StringIO((await intake.get(summary["error_report"])).text)))
    assert [(int(e["row"]), e["column"], e["code"]) for e in report] == [
        (139, "COMPETENCIES", bad_rows[137]),
        (614, "RELEASE_DT", bad_rows[612]),
    ]
    assert "s" * 50 not in r.text  # the report does not echo the value
    # The rows after the bad one in its batch are in, and published.
    rows = await client_rows(intake, run)
    assert len(rows) == 698
    await on_kafka(stack, rows[f"RB{run.upper()}{138:07d}"])


async def client_rows(intake: httpx.AsyncClient, run: str) -> dict[str, str]:
    """external_id -> referral_id of this run's accepted rows."""
    pool: asyncpg.Pool = intake.app.state.pool  # type: ignore[attr-defined]
    found = await pool.fetch("SELECT external_id, referral_id FROM referrals WHERE external_id LIKE $1",
                             f"RB{run.upper()}%")
    return {r["external_id"]: r["referral_id"] for r in found}


async def test_a_line_without_its_end_past_the_row_bound_ends_the_import_cleanly(intake):
    run = uuid.uuid4().hex[:6]
    good = riverbend_csv(600, run)
    runaway = ",".join(["RBX", "ANA", "DIAZ", "", "a@example.org", "3125550100", "x" * (MiB + 10)]).encode()
    r = await upload(intake, good + runaway)  # no newline at the end, and more than a row may be
    assert r.status_code == 201, r.text  # over the JSON limit, within the CSV one: read
    summary = r.json()
    assert summary["status"] == "failed" and summary["failure"].startswith("row-too-long: row 602 ")
    assert (summary["rows"], summary["accepted"]) == (600, 600)  # every row before it, both batches
    assert len(await client_rows(intake, run)) == 600

    # As the first row, or as the header: the file is refused before the import starts.
    header = good.split(b"\n", 1)[0] + b"\n"
    r = await upload(intake, header + runaway)
    assert assert_problem(r, 422, "row-too-long")["detail"].startswith("row 2 is longer than 1048576 bytes")
    r = await upload(intake, b"STUDENT_ID," * 200_000)
    assert assert_problem(r, 422, "row-too-long")["detail"].startswith("the header is longer")


async def test_a_row_the_event_or_database_refuses_after_validation_costs_only_itself(intake, monkeypatch):
    """Validation is meant to catch everything; if it ever misses something, the batch is
    halved until the row is found, and its neighbours are accepted."""
    run = uuid.uuid4().hex[:6]
    poison = f"RB{run.upper()}{321:07d}"
    real = domain.submitted

    def submitted(referral: domain.ReferralIn, *args: Any, **kwargs: Any) -> Any:
        if referral.external_id == poison:
            raise ValueError("as if the event could not be built")
        return real(referral, *args, **kwargs)

    monkeypatch.setattr(domain, "submitted", submitted)
    r = await upload(intake, riverbend_csv(500, run))
    summary = r.json()
    assert (summary["status"], summary["accepted"], summary["rejected"]) == ("done", 499, 1), summary
    report = list(csv.DictReader(io.StringIO((await intake.get(summary["error_report"])).text)))
    assert [(e["row"], e["code"]) for e in report] == [("323", "not-storable")]
    assert len(await client_rows(intake, run)) == 499
