"""Intake's entry paths against the running network: webhook, CSV upload, the partner's
Kafka topic, and the canonical API; errors, duplicates, idempotency, update and withdrawal."""

from __future__ import annotations

import csv
import io
import json
import uuid
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from contracts import Envelope, events, registry, topics
from plumbing.kafka import client_options
from talentloop import samples
from tests.e2e.helpers import Api, assert_problem, poll, referral_body, unique
from tests.kafka_helpers import read_topic

FORGE = "forge-coding-bootcamp"  # json adapter (webhook + Kafka)
RIVERBEND = "riverbend-community-college"  # csv adapter
NORTHSIDE = "northside-tech-collective"  # csv adapter


def fresh(n: int | None = None) -> samples.Person:
    """A made-up person nobody else in the suite uses."""
    p = samples.person(n if n is not None else uuid.uuid4().int % 10_000, run=uuid.uuid4().hex[:8])
    return p


async def webhook(api: Api, partner: str, record: Any, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return await api.http.post(api.url("intake", "/v1/webhooks/referrals"), json=record,
                               headers={**api.net.auth(f"partner:{partner}"), **(headers or {})})


async def upload(api: Api, partner: str, text: str | bytes, accept: str = "application/json",
                 headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    files = {"file": ("export.csv", text if isinstance(text, bytes) else text.encode(), "text/csv")}
    return await api.http.post(api.url("intake", "/v1/imports"), files=files, timeout=60.0,
                               headers={**api.net.auth(f"partner:{partner}"), "Accept": accept, **(headers or {})})


async def referral(api: Api, partner: str, referral_id: str) -> dict[str, Any]:
    r = await api.http.get(api.url("intake", f"/v1/referrals/{referral_id}"), headers=api.net.auth(f"partner:{partner}"))
    assert r.status_code == 200, r.text
    return r.json()


async def events_of(api: Api, key: str, at_least: int = 1) -> list[Envelope]:
    async def arrived() -> list[Envelope] | None:
        records = await read_topic(api.net.bootstrap, topics.REFERRALS.name, timeout=3.0)
        found = [Envelope.from_bytes(r.value) for r in records if r.key == key.encode()]
        return found if len(found) >= at_least else None

    return await poll(f"{at_least} event(s) of {key} on Kafka", arrived)


async def test_webhook_maps_the_partners_json_and_publishes_sealed_contact(api: Api) -> None:
    p = fresh()
    record = samples.forge_payload(p, run="wh")
    record["data"]["graduate"]["skills"].append({"label": "Underwater Basket Weaving"})
    r = await webhook(api, FORGE, record)
    assert r.status_code == 201, r.text
    body = r.json()
    assert "Underwater Basket Weaving" in body["unknown_skills"] and "Python" not in body["unknown_skills"]

    stored = await referral(api, FORGE, body["referral_id"])
    assert stored["entry"] == "webhook" and stored["status"] == "active"
    assert stored["candidate"]["email"] == p.email.lower()
    assert stored["candidate"]["phone"] == "+1" + "".join(c for c in p.phone[2:] if c.isdigit())
    assert stored["demographics_on_file"] is True
    assert stored["target_onet_soc_code"] == p.soc
    assert {s["text"] for s in stored["skills"] if s["id"] is None} == set(body["unknown_skills"])

    (event,) = await events_of(api, body["referral_id"])
    assert event.type == "referral.submitted.v2" and event.dataschema == registry.dataschema(events.ReferralSubmittedV2)
    raw = json.dumps(event.data)
    assert p.email.lower() not in raw and p.family not in raw and "+1312" not in raw
    assert event.data["contact_sealed"]["alg"] == "A256GCM"
    # Sealed under the network's candidate, which the partner is not told (its id is its own).
    network_id = event.data["candidate_id"]
    assert event.data["contact_sealed"]["kid"].startswith(network_id) and body["candidate_id"] != network_id
    # Demographics travel only sealed (and only with consent to aggregate reports), never open.
    assert "demographics" not in event.data and "female" not in raw
    sealed = event.data["demographics_sealed"]
    assert sealed is None or (sealed["alg"] == "A256GCM" and sealed["kid"].startswith(network_id))


async def test_webhook_errors_name_the_partners_fields(api: Api) -> None:
    record = samples.forge_payload(fresh(), run="bad")
    record["data"]["graduate"]["contact"]["email"] = "not-an-address"
    record["data"]["graduate"]["certifications"] = [{"title": "X", "state": "revoked"}]
    record["data"]["goal"]["soc"] = "29-1141.00"  # registered nurses: not a route of this network
    del record["data"]["consent"]["at"]
    doc = assert_problem(await webhook(api, FORGE, record), 422, "invalid-record")
    found = {(e["field"], e["code"]) for e in doc["errors"]}
    assert ("data.graduate.contact.email", "invalid-email") in found, found
    assert ("data.graduate.certifications[0].state", "unmapped-value") in found, found
    assert ("data.goal.soc", "unknown-occupation") in found, found
    assert ("data.consent.at", "missing-value") in found, found
    assert "not-an-address" not in json.dumps(doc)  # error reports never echo personal data

    no_consent = samples.forge_payload(fresh(), run="nc")
    no_consent["data"]["consent"]["employers"] = False
    doc = assert_problem(await webhook(api, FORGE, no_consent), 422, "invalid-record")
    assert [e["code"] for e in doc["errors"]] == ["consent-required"]

    # A partner without a JSON adapter cannot use the webhook.
    assert_problem(await webhook(api, RIVERBEND, record), 404, "no-adapter")


async def test_webhook_idempotency_key_replays_and_refuses_another_payload(api: Api) -> None:
    key = f"wh-{uuid.uuid4().hex}"
    record = samples.forge_payload(fresh(), run="idem")
    first = await webhook(api, FORGE, record, {"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    again = await webhook(api, FORGE, record, {"Idempotency-Key": key})
    assert again.status_code == 201 and again.headers.get("idempotent-replayed") == "true"
    assert again.json() == first.json()
    other = samples.forge_payload(fresh(), run="idem2")
    assert_problem(await webhook(api, FORGE, other, {"Idempotency-Key": key}), 422, "idempotency-key-reused")
    assert len(await events_of(api, first.json()["referral_id"])) == 1


def riverbend_file(people: list[samples.Person], run: str) -> tuple[str, list[dict[str, str]]]:
    rows = [samples.riverbend_row(p, run) for p in people]
    return samples.csv_text(samples.RIVERBEND_COLUMNS, rows), rows


def report(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def test_csv_upload_accepts_good_rows_and_reports_every_bad_one(api: Api) -> None:
    run = uuid.uuid4().hex[:6]
    people = [samples.person(n, run=run) for n in range(12)]
    _, rows = riverbend_file(people, run)
    rows[2]["COMPLETION_DT"] = "31/12/2026"  # row 4: bad date
    rows[3]["AWARD_STATUS"] = "WDRN"  # row 5: a code the mapping does not know
    rows[4]["FIRST_NM"] = ""  # row 6: missing name
    rows[5]["PHONE"] = "12"  # row 7: impossible phone
    rows[5]["CAMPUS_EMAIL"] = rows[5]["PERSONAL_EMAIL"] = "nobody@"  # row 7: and a bad e-mail
    rows[6]["FERPA_RELEASE"] = "N"  # row 8: no consent
    rows.append(dict(rows[0]))  # row 14: the same person again, same target
    text = samples.csv_text(samples.RIVERBEND_COLUMNS, rows)

    r = await upload(api, RIVERBEND, text)
    assert r.status_code == 201, r.text
    summary = r.json()
    assert summary["status"] == "done"
    assert (summary["rows"], summary["accepted"], summary["duplicates"], summary["rejected"]) == (13, 7, 1, 5)

    errors = await api.http.get(api.url("intake", summary["error_report"]), headers=api.net.auth(f"partner:{RIVERBEND}"))
    assert errors.status_code == 200 and errors.headers["content-type"].startswith("text/csv")
    found = {(int(e["row"]), e["column"], e["code"]) for e in report(errors.text)}
    assert {
        (4, "COMPLETION_DT", "bad-date"),
        (5, "AWARD_STATUS", "unmapped-value"),
        (6, "FIRST_NM", "missing-value"),
        (7, "PHONE", "invalid-phone"),
        (7, "PERSONAL_EMAIL | CAMPUS_EMAIL", "invalid-email"),
        (8, "FERPA_RELEASE", "consent-required"),
        (14, "", "duplicate-referral"),
    } <= found, found
    duplicate = next(e for e in report(errors.text) if e["code"] == "duplicate-referral")
    assert duplicate["existing_referral_id"].startswith("ref_")
    assert "nobody@" not in errors.text


async def test_csv_upload_answers_with_the_error_report_or_streams_progress(api: Api) -> None:
    run = uuid.uuid4().hex[:6]
    text, rows = riverbend_file([samples.person(n, run=run) for n in range(5)], run)
    rows[1]["TARGET_SOC"] = "99-9999"
    r = await upload(api, RIVERBEND, samples.csv_text(samples.RIVERBEND_COLUMNS, rows), accept="text/csv")
    assert r.status_code == 201 and r.headers["x-import-accepted"] == "4" and r.headers["x-import-rejected"] == "1"
    assert [(e["row"], e["column"], e["code"]) for e in report(r.text)] == [("3", "TARGET_SOC", "unknown-occupation")]

    other = riverbend_file([samples.person(n, run=run + "b") for n in range(3)], run + "b")[0]
    r = await upload(api, RIVERBEND, other, accept="application/x-ndjson")
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert lines[-1]["status"] == "done" and lines[-1]["accepted"] == 3
    assert lines[0]["bytes_total"] == len(other.encode()) and lines[0]["rows"] == 3


async def test_csv_whole_file_errors_and_reupload(api: Api) -> None:
    assert_problem(await upload(api, RIVERBEND, "STUDENT_ID,FIRST_NM\n1,A\n"), 422, "missing-columns")
    assert_problem(await upload(api, FORGE, "a,b\n"), 404, "no-adapter")

    run = uuid.uuid4().hex[:6]
    text, _ = riverbend_file([samples.person(n, run=run) for n in range(4)], run)
    key = f"imp-{uuid.uuid4().hex}"
    first = await upload(api, RIVERBEND, text, headers={"Idempotency-Key": key})
    assert first.status_code == 201 and first.json()["accepted"] == 4, first.text
    replay = await upload(api, RIVERBEND, text, headers={"Idempotency-Key": key})
    assert replay.headers.get("idempotent-replayed") == "true" and replay.json() == first.json()
    assert_problem(await upload(api, RIVERBEND, text + "\n", headers={"Idempotency-Key": key}), 422, "idempotency-key-reused")
    # Without a key the same file is a new import, and every row is a duplicate: nothing counted twice.
    again = (await upload(api, RIVERBEND, text)).json()
    assert (again["accepted"], again["duplicates"]) == (0, 4)


async def test_duplicates_within_a_partner_and_links_across_partners(api: Api) -> None:
    body = referral_body([unique()])
    body["target_onet_soc_code"] = "15-1252"
    first = await api.submit(NORTHSIDE, body)
    assert first.status_code == 201, first.text
    ref_id, candidate = first.json()["referral_id"], first.json()["candidate_id"]

    again = {**body, "external_id": None, "candidate": {**body["candidate"], "email": body["candidate"]["email"].upper()}}
    doc = assert_problem(await api.submit(NORTHSIDE, again), 409, "duplicate-referral")
    assert doc["existing_referral_id"] == ref_id

    other_person = referral_body([unique()])
    other_person["external_id"] = body["external_id"]
    doc = assert_problem(await api.submit(NORTHSIDE, other_person), 409, "external-id-in-use")
    assert doc["existing_referral_id"] == ref_id

    other_target = {**again, "target_onet_soc_code": "15-1254.00"}
    r = await api.submit(NORTHSIDE, other_target)
    assert r.status_code == 201 and r.json()["candidate_id"] == candidate, r.text

    # Another partner refers the same person (by phone only): linked, but nothing shared.
    phone = f"+1 646 555 01{uuid.uuid4().int % 100:02d}"
    await api.http.patch(api.url("intake", f"/v1/referrals/{ref_id}"),
                         json={"candidate": {**body["candidate"], "phone": phone}},
                         headers=api.net.auth(f"partner:{NORTHSIDE}"))
    by_phone = referral_body([unique()])
    by_phone["candidate"] = {"given_name": "T", "family_name": "C", "phone": phone}
    r = await api.submit(RIVERBEND, by_phone)
    # Riverbend is told its own id of the person; the network links the two all the same.
    assert r.status_code == 201 and r.json()["candidate_id"] != candidate, r.text
    ours, theirs = (await events_of(api, ref_id))[0], (await events_of(api, r.json()["referral_id"]))[0]
    assert ours.data["candidate_id"] == theirs.data["candidate_id"] not in {candidate, r.json()["candidate_id"]}
    r = await api.http.get(api.url("intake", f"/v1/referrals/{ref_id}"), headers=api.net.auth(f"partner:{RIVERBEND}"))
    assert_problem(r, 404, "not-found")


async def test_update_and_withdraw_are_events(api: Api) -> None:
    ref_id = await api.refer(NORTHSIDE, referral_body([unique()]))
    url = api.url("intake", f"/v1/referrals/{ref_id}")
    auth = api.net.auth(f"partner:{NORTHSIDE}")
    r = await api.http.patch(url, json={"skills": ["Python", "Docker"], "demographics": {"veteran_status": True}},
                             headers=auth)
    assert r.status_code == 200 and r.json()["changed"] == ["skills"], r.text
    assert_problem(await api.http.patch(url, json={}, headers=auth), 422)

    r = await api.http.post(f"{url}/withdraw", json={"reason": "found_employment"}, headers=auth)
    assert r.status_code == 200 and r.json()["status"] == "withdrawn", r.text
    doc = assert_problem(await api.http.post(f"{url}/withdraw", json={"reason": "other"}, headers=auth), 409)
    assert doc["current_state"] == "withdrawn"
    assert_problem(await api.http.patch(url, json={"skills": ["Go"]}, headers=auth), 409, "invalid-transition")
    assert_problem(await api.http.post(f"{url}/withdraw", json={"reason": "candidate_erased"}, headers=auth), 422)

    found = await events_of(api, ref_id, at_least=3)
    assert [e.type for e in found] == ["referral.submitted.v2", "referral.updated.v1", "referral.withdrawn.v1"]
    updated = events.ReferralUpdatedV1.model_validate(found[1].data)
    assert [s.id for s in updated.skills] == ["python", "docker"] and updated.changed == ["skills"]
    assert events.ReferralWithdrawnV1.model_validate(found[2].data).reason == "found_employment"


async def test_partner_kafka_topic_is_an_entry_path_with_dead_letters(api: Api) -> None:
    topic = topics.partner_inbound(FORGE)
    good = samples.forge_payload(fresh(), run="kafka")
    invalid = samples.forge_payload(fresh(), run="kafka-bad")
    invalid["data"]["graduate"]["contact"] = {}
    # As the partner's own Kafka principal, which may write this topic and nothing else.
    forge = api.net.network.kafka_principals[f"partner:{FORGE}"]
    producer = AIOKafkaProducer(**client_options(api.net.bootstrap, forge))
    await producer.start()
    try:
        for key, value in [(b"g", json.dumps(good).encode()), (b"x", b"{not json"), (b"i", json.dumps(invalid).encode())]:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()

    external_id = good["data"]["graduate"]["uuid"]
    conn = await asyncpg.connect(api.net.network.database_url)
    try:
        async def stored() -> asyncpg.Record | None:
            return await conn.fetchrow("SELECT referral_id, entry FROM intake.referrals WHERE external_id = $1", external_id)

        row = await poll("the Kafka record in intake", stored)
    finally:
        await conn.close()
    assert row["entry"] == "kafka"
    await events_of(api, row["referral_id"])

    async def dead_letters() -> list | None:
        records = await read_topic(api.net.bootstrap, topics.dead_letter_topic("intake"), timeout=3.0)
        ours = [r for r in records if dict(r.headers).get("dlq.original_topic") == topic.encode()]
        return ours if {r.key for r in ours} >= {b"x", b"i"} else None

    letters = {r.key: dict(r.headers) for r in await poll("dead letters for the bad records", dead_letters)}
    assert letters[b"x"]["dlq.reason"].startswith(b"not-json")
    assert letters[b"i"]["dlq.reason"].startswith(b"invalid-record")
    errors = json.loads(letters[b"i"]["dlq.errors"])
    assert {"field": "data.graduate.contact.email | data.graduate.contact.phone", "code": "contact-required",
            "message": "an e-mail address or a phone number is required"} in errors, errors

    async def truncated() -> bool | None:
        records = await read_topic(api.net.bootstrap, topic, at_least=0, timeout=2.0)
        return True if not any(r.key == b"g" for r in records) else None

    await poll("processed records deleted from the inbound topic", truncated, timeout=30.0)


def test_talentloop_import_command(api: Api, network_config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os
    import subprocess
    import sys

    run = uuid.uuid4().hex[:6]
    rows = [samples.northside_row(samples.person(n, run=run), run) for n in range(7)]
    rows[3]["Consent Date"] = "yesterday"
    path = tmp_path / "crm-export.csv"
    path.write_text(samples.csv_text(samples.NORTHSIDE_COLUMNS, rows))
    report_path = tmp_path / "errors.csv"
    env = {**os.environ, "TALENTLOOP_HOME": str(network_config.home)}
    cmd = [sys.executable, "-m", "talentloop.cli", "import", str(path), "--partner", NORTHSIDE, "--errors", str(report_path)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "7 rows: 6 accepted, 0 duplicates, 1 rejected" in done.stdout, done.stdout
    assert [(e["row"], e["column"], e["code"]) for e in report(report_path.read_text())] == [
        ("5", "Consent Date", "bad-date")
    ]
    bad = subprocess.run([*cmd[:4], str(tmp_path / "nope.csv"), *cmd[5:]], env=env, capture_output=True, text=True)
    assert bad.returncode != 0


async def test_an_unreadable_row_fails_the_import_but_keeps_the_rows_before_it(api: Api) -> None:
    run = uuid.uuid4().hex[:6]
    text, _ = riverbend_file([samples.person(n, run=run) for n in range(620)], run)
    lines = text.encode().split(b"\n")
    lines[611] = lines[611].replace(b"Certificate", b"Certific\xff\xfete")  # not UTF-8, in row 612
    r = await upload(api, RIVERBEND, b"\n".join(lines))
    assert r.status_code == 201, r.text
    summary = r.json()
    assert summary["status"] == "failed" and summary["failure"].startswith("not-csv"), summary
    assert summary["accepted"] == 610 and summary["rows"] == 610, summary
