"""API keys without a database: the key format and the scope a request needs."""

import pytest

from plumbing.apikeys import check_scopes
from plumbing.auth import InvalidKey, format_key, hash_secret, new_key_id, new_secret, parse_key, required_scope

pytestmark = pytest.mark.unit


def test_a_new_key_parses_back_to_its_kind_key_id_and_secret():
    key_id, secret = new_key_id(), new_secret()
    key = format_key("employer", key_id, secret)
    assert key.startswith(f"tl_emp_{key_id}_")
    parsed = parse_key(key)
    assert (parsed.kind_tag, parsed.key_id, parsed.secret) == ("emp", key_id, secret)


def test_a_secret_with_underscores_and_dashes_stays_whole():
    key = format_key("partner", "key_0123456789abcdef0123", "a_b-c_" * 8)
    assert parse_key(key).secret == "a_b-c_" * 8


@pytest.mark.parametrize(
    "text",
    [
        "",
        "tl_par_not-a-key",  # the old format, or junk
        "tl_xyz_key_0123456789abcdef0123_" + "s" * 40,  # unknown kind
        "tl_par_key_0123_" + "s" * 40,  # short key id
        "tl_par_key_0123456789abcdef0123_short",  # short secret
        "tl_par_key_0123456789abcdef0123_" + "s" * 40 + " ",
        "Bearer tl_par_key_0123456789abcdef0123_" + "s" * 40,
    ],
)
def test_malformed_keys_are_refused_before_any_lookup(text):
    with pytest.raises(InvalidKey):
        parse_key(text)


def test_secrets_are_random_and_only_their_hash_is_kept():
    assert new_secret() != new_secret() and new_key_id() != new_key_id()
    assert len(hash_secret("x")) == 32


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("GET", "/v1/referrals", "read"),
        ("HEAD", "/v1/referrals/ref_1", "read"),
        ("get", "/v1/funnel", "read"),
        ("POST", "/v1/referrals", "write"),
        ("PATCH", "/v1/openings/op_1", "write"),
        ("DELETE", "/v1/anything", "write"),
        ("POST", "/v1/webhooks/referrals", "write"),  # a submission, whatever its path
        ("GET", "/v1/webhooks/endpoints", "webhooks"),
        ("POST", "/v1/webhooks/endpoints", "webhooks"),
        ("DELETE", "/v1/webhooks/endpoints/whe_1", "webhooks"),
        ("POST", "/v1/webhooks/endpoints/whe_1/rotate-secret", "webhooks"),
        ("GET", "/v1/webhooks/deliveries", "webhooks"),
        ("POST", "/v1/webhooks/deliveries/whd_1/redeliver", "webhooks"),
        ("GET", "/v1/webhooks/endpointsfoo", "read"),  # only those trees
        ("POST", "/v1/webhooks", "write"),
        ("GET", "/v1/keys", None),  # a caller's own keys, whatever its scopes
        ("POST", "/v1/keys/rotate", None),
        ("POST", "/v1/keys/rotate/", None),
        ("POST", "/v1/keys", "write"),  # issuing (operators) needs write
        ("POST", "/v1/keys/key_1/revoke", "write"),
    ],
)
def test_the_scope_a_request_needs_follows_its_method_and_path(method, path, scope):
    assert required_scope(method, path) == scope


def test_scopes_must_be_known_and_not_empty():
    assert check_scopes(["write", "read", "read"]) == ["read", "write"]
    for bad in ([], ["admin"], ["read", "Write"]):
        with pytest.raises(ValueError):
            check_scopes(bad)
