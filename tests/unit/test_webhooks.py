"""Webhook signatures as a receiver checks them, the retry schedule, URLs we accept and
secrets at rest (plumbing/webhooks.py); no I/O."""

from __future__ import annotations

import hashlib
import hmac
import os
import random

import pytest
from cryptography.exceptions import InvalidTag

from plumbing import webhooks
from plumbing.destinations import Destinations

pytestmark = pytest.mark.unit
BODY = b'{"id":"9f0c","type":"referral.routed","data":{"referral_id":"ref_1"}}'
NOW = 1_763_908_200


def headers_for(secrets_: list[str], stamp: int = NOW, body: bytes = BODY) -> dict[str, str]:
    return {
        webhooks.WEBHOOK_ID: "whd_1",
        webhooks.TIMESTAMP: str(stamp),
        webhooks.SIGNATURE: webhooks.sign(secrets_, stamp, body),
    }


def test_the_signature_is_the_documented_hmac_of_timestamp_dot_body() -> None:
    expected = hmac.new(b"whsec_a", f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert webhooks.sign(["whsec_a"], NOW, BODY) == f"t={NOW},v1={expected}"
    webhooks.verify("whsec_a", headers_for(["whsec_a"]), BODY, now=NOW)


def test_a_wrong_secret_a_changed_body_or_a_changed_timestamp_is_rejected() -> None:
    good = headers_for(["whsec_a"])
    with pytest.raises(webhooks.InvalidSignature, match="no signature matches"):
        webhooks.verify("whsec_b", good, BODY, now=NOW)
    with pytest.raises(webhooks.InvalidSignature, match="no signature matches"):
        webhooks.verify("whsec_a", good, BODY.replace(b"ref_1", b"ref_2"), now=NOW)
    # The timestamp is signed: moving it (to slip a replay into the window) breaks the match.
    moved = {**good, webhooks.SIGNATURE: good[webhooks.SIGNATURE].replace(f"t={NOW}", f"t={NOW + 60}")}
    with pytest.raises(webhooks.InvalidSignature, match="no signature matches"):
        webhooks.verify("whsec_a", moved, BODY, now=NOW + 60)


@pytest.mark.parametrize(
    "headers",
    [{}, {webhooks.SIGNATURE: "v1=abc"}, {webhooks.SIGNATURE: "t=soon,v1=abc"}, {webhooks.SIGNATURE: ""}],
)
def test_a_missing_or_malformed_header_is_rejected(headers: dict[str, str]) -> None:
    with pytest.raises(webhooks.InvalidSignature):
        webhooks.verify("whsec_a", headers, BODY, now=NOW)


def test_a_stale_or_future_timestamp_is_rejected_even_with_a_good_signature() -> None:
    signed = headers_for(["whsec_a"])
    webhooks.verify("whsec_a", signed, BODY, tolerance_s=300, now=NOW + 300)  # at the edge: accepted
    webhooks.verify("whsec_a", signed, BODY, tolerance_s=300, now=NOW - 300)
    for now in (NOW + 301, NOW - 301):
        with pytest.raises(webhooks.InvalidSignature, match="tolerance"):
            webhooks.verify("whsec_a", signed, BODY, tolerance_s=300, now=now)


def test_during_a_rotation_either_secret_verifies_and_a_third_does_not() -> None:
    signed = headers_for(["whsec_new", "whsec_old"])
    assert signed[webhooks.SIGNATURE].count("v1=") == 2
    webhooks.verify("whsec_new", signed, BODY, now=NOW)
    webhooks.verify("whsec_old", signed, BODY, now=NOW)
    with pytest.raises(webhooks.InvalidSignature):
        webhooks.verify("whsec_other", signed, BODY, now=NOW)


def test_header_names_are_matched_without_regard_to_case() -> None:
    lowered = {k.lower(): v for k, v in headers_for(["whsec_a"]).items()}
    webhooks.verify("whsec_a", lowered, BODY, now=NOW)


def test_backoff_doubles_from_the_base_until_the_cap() -> None:
    top = random.Random(0)
    top.random = lambda: 1.0  # type: ignore[method-assign]  # the upper end of the jitter
    assert [webhooks.backoff(n, 10, 3600, top) for n in range(1, 11)] == [
        10,
        20,
        40,
        80,
        160,
        320,
        640,
        1280,
        2560,
        3600,
    ]
    assert webhooks.backoff(60, 10, 3600, top) == 3600  # far past the cap: no overflow, still capped


def test_backoff_jitter_stays_in_the_upper_half_and_spreads() -> None:
    rng = random.Random(7)
    for attempt, ceiling in [(1, 10.0), (3, 40.0), (12, 3600.0)]:
        draws = [webhooks.backoff(attempt, 10, 3600, rng) for _ in range(500)]
        assert all(ceiling / 2 <= d <= ceiling for d in draws)
        assert max(draws) - min(draws) > ceiling / 4  # not one fixed delay: retries spread out


@pytest.mark.parametrize(
    "url",
    [
        "ftp://ats.example.com/x",
        "https://user:pw@ats.example.com/x",
        "https://token@ats.example.com/x",
        "not a url",
        "https:///path-only",
        "javascript:alert(1)",
    ],
)
def test_only_http_or_https_urls_with_a_host_and_without_credentials(url: str) -> None:
    with pytest.raises(webhooks.BadUrl):
        Destinations().check_url(url)  # (where they may point: tests/unit/test_destinations.py)


def test_good_urls_pass_unchanged() -> None:
    assert Destinations().check_url("https://ats.example.com/hooks?x=1").geturl() == "https://ats.example.com/hooks?x=1"
    development = Destinations(allow_loopback_http=True)
    assert development.check_url("http://127.0.0.1:8080/in").geturl() == "http://127.0.0.1:8080/in"


def test_secrets_are_sealed_per_endpoint_and_only_the_same_master_key_opens_them() -> None:
    master = os.urandom(32)
    box = webhooks.SecretBox(master)
    sealed = box.seal("whe_1", "whsec_abc")
    assert b"whsec_abc" not in sealed and sealed != box.seal("whe_1", "whsec_abc")  # a fresh nonce each time
    assert webhooks.SecretBox(master).open("whe_1", sealed) == "whsec_abc"
    with pytest.raises(InvalidTag):
        box.open("whe_2", sealed)  # bound to its endpoint: cannot be moved to another one
    with pytest.raises(InvalidTag):
        webhooks.SecretBox(os.urandom(32)).open("whe_1", sealed)
    # The key is derived for this purpose: the master key itself does not open it.
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    with pytest.raises(InvalidTag):
        AESGCM(master).decrypt(sealed[:12], sealed[12:], b"whe_1")


def test_during_a_master_key_rotation_secrets_open_with_the_previous_key_and_seal_with_the_new() -> None:
    old, new = os.urandom(32), os.urandom(32)
    sealed_before = webhooks.SecretBox(old).seal("whe_1", "whsec_abc")
    rotating = webhooks.SecretBox(new, (old,))
    assert rotating.open("whe_1", sealed_before) == "whsec_abc"
    sealed_now = rotating.seal("whe_1", "whsec_def")
    assert webhooks.SecretBox(new).open("whe_1", sealed_now) == "whsec_def"  # sealed with the new key only
    with pytest.raises(InvalidTag):
        webhooks.SecretBox(old).open("whe_1", sealed_now)
    with pytest.raises(InvalidTag):
        webhooks.SecretBox(new).open("whe_1", sealed_before)  # once the previous key is dropped
    with pytest.raises(InvalidTag):
        rotating.open("whe_2", sealed_before)  # still bound to its endpoint


def test_the_receiver_snippet_in_the_docs_accepts_and_rejects_as_verify_does() -> None:
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "webhooks.md").read_text()
    snippet = doc.split("```python\n", 1)[1].split("```", 1)[0]
    scope: dict = {}
    exec(snippet, scope)  # noqa: S102  (our own documentation)
    documented = scope["verify"]
    import time

    stamp = int(time.time())
    signed = headers_for(["whsec_new", "whsec_old"], stamp)
    assert documented("whsec_new", signed, BODY) and documented("whsec_old", signed, BODY)
    assert documented("whsec_new", {k.lower(): v for k, v in signed.items()}, BODY)
    assert not documented("whsec_other", signed, BODY)
    assert not documented("whsec_new", signed, BODY + b" ")
    assert not documented("whsec_new", headers_for(["whsec_new"], stamp - 301), BODY)
    assert not documented("whsec_new", {}, BODY)
