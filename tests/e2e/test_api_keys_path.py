"""API keys across the running services: one database of keys, every service enforces scopes.

The operator issues a read-only key for an employer through one service, the employer uses it
at others, rotates it at a third, and a revocation reaches every service within the cache
bound (TALENTLOOP_KEY_CACHE_S: 5 s by default, 1 s on the e2e network).
"""

from __future__ import annotations

import httpx

from tests.e2e.helpers import OPERATOR, Api, assert_problem, opening_body, poll

EMPLOYER = "harborview-health"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_a_read_only_key_issued_at_one_service_reads_everywhere_and_writes_nowhere(api: Api) -> None:
    r = await api.http.post(
        api.url("employer_gateway", "/v1/keys"),
        json={"principal": {"kind": "employer", "id": EMPLOYER}, "scopes": ["read"], "label": "e2e reporting"},
        headers=api.net.auth(OPERATOR),
    )
    assert r.status_code == 201, r.text
    issued = r.json()
    reader = issued["key"]

    r = await api.http.get(api.url("employer_gateway", "/v1/openings"), headers=bearer(reader))
    assert r.status_code == 200, r.text
    r = await api.http.get(api.url("outcomes", "/v1/funnel"), headers=bearer(reader))
    assert r.status_code == 200, r.text
    r = await api.http.post(
        api.url("employer_gateway", "/v1/openings"), json=opening_body(["python"]), headers=bearer(reader)
    )
    assert assert_problem(r, 403, "insufficient-scope")["required_scope"] == "write"

    # Rotation at intake: both keys work at the gateway during the grace period.
    r = await api.http.post(api.url("intake", "/v1/keys/rotate"), headers=bearer(reader))
    assert r.status_code == 201, r.text
    rotated = r.json()["new"]
    assert rotated["scopes"] == ["read"] and r.json()["previous"]["replaced_by"] == rotated["key_id"]
    for key in (reader, rotated["key"]):
        assert (await api.http.get(api.url("employer_gateway", "/v1/openings"), headers=bearer(key))).status_code == 200
    r = await api.http.get(api.url("routing", "/v1/keys"), headers=bearer(rotated["key"]))
    assert {issued["key_id"], rotated["key_id"]} <= {k["key_id"] for k in r.json()}

    # Revoked at routing: the gateway, which cached the key, refuses it within its cache bound.
    r = await api.http.post(api.url("routing", f"/v1/keys/{rotated['key_id']}/revoke"), headers=api.net.auth(OPERATOR))
    assert r.status_code == 200 and r.json()["status"] == "revoked", r.text

    async def refused() -> httpx.Response | None:
        r = await api.http.get(api.url("employer_gateway", "/v1/openings"), headers=bearer(rotated["key"]))
        return r if r.status_code == 401 else None

    r = await poll("the revoked key refused at the gateway", refused, timeout=10)
    assert "revoked" in assert_problem(r, 401, "unauthorized")["detail"]
