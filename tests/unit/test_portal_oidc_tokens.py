"""The portal takes an ID token signed only with a public-key algorithm by a key of the
provider's JWKS (services/portal/oidc.py `Provider.verify`): never `none`, and never a
shared-secret HS256, even from a provider whose discovery offers them and whose JWKS carries a
symmetric key. The provider's discovery and keys are answered in this process (httpx's
MockTransport): no network."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, RSAKey

from services.portal.oidc import Provider, ProviderError, ProviderSettings

pytestmark = pytest.mark.unit

ISSUER, CLIENT = "https://id.example.org", "portal"
RSA = RSAKey.generate_key(2048, parameters={"kid": "rsa"})
SHARED = OctKey.import_key(b"the client secret, also a key in the JWKS", parameters={"kid": "shared"})


def provider() -> Provider:
    """A provider offering every algorithm, its JWKS holding an RSA key and a symmetric one."""
    documents = {
        "/.well-known/openid-configuration": {
            "issuer": ISSUER,
            "authorization_endpoint": f"{ISSUER}/authorize",
            "token_endpoint": f"{ISSUER}/token",
            "jwks_uri": f"{ISSUER}/jwks",
            "id_token_signing_alg_values_supported": ["none", "HS256", "RS256"],
        },
        "/jwks": KeySet([RSA, SHARED]).as_dict(private=False),
    }
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200, json=documents[r.url.path])))
    return Provider(ProviderSettings(ISSUER, CLIENT, None, "openid email", "SSO", True), http)


def claims() -> dict[str, Any]:
    now = int(time.time())
    return {"iss": ISSUER, "aud": CLIENT, "sub": "s", "iat": now, "exp": now + 300, "nonce": "n", "email": "a@b.org"}


def unsigned() -> str:
    part = [base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode() for d in ({"alg": "none"}, claims())]
    return f"{part[0]}.{part[1]}."


async def test_an_rs256_token_of_the_jwks_is_taken() -> None:
    token = jwt.encode({"alg": "RS256", "kid": "rsa"}, claims(), RSA)
    assert (await provider().verify(token, "n"))["sub"] == "s"


@pytest.mark.parametrize(
    "token",
    [
        lambda: jwt.encode({"alg": "HS256", "kid": "shared"}, claims(), SHARED, algorithms=["HS256"]),
        unsigned,
    ],
    ids=["hs256-with-a-shared-key-of-the-jwks", "alg-none"],
)
async def test_a_shared_secret_or_unsigned_token_is_refused(token: Any) -> None:
    with pytest.raises(ProviderError) as refused:
        await provider().verify(token(), "n")
    assert refused.value.code == "invalid_token"
