-- Signing in with the coalition's OpenID Connect provider (services/portal/oidc.py, docs/portals.md).
-- A sign-in under way: the `state` sent to the provider (kept as its SHA-256), the browser
-- session that started it (the callback must come back in the same one: no login CSRF), the
-- nonce the ID token must carry, the PKCE verifier, where to go after, and the invitation it
-- accepts, if any. Single use (deleted by the callback), ten minutes.
CREATE TABLE oidc_flows (
    state_sha256      bytea PRIMARY KEY,
    session_sha256    bytea NOT NULL,
    nonce             text NOT NULL,
    code_verifier     text NOT NULL,
    next_path         text NOT NULL,
    invitation_sha256 bytea,
    expires_at        timestamptz NOT NULL
);
CREATE INDEX oidc_flows_expiry ON oidc_flows (expires_at);

-- The provider's account (issuer, subject) a portal user is linked to, from the first sign-in
-- with it (or the invitation accepted with it): a later sign-in with the same e-mail address
-- but another subject is refused, so an address reassigned at the provider opens nothing.
CREATE TABLE oidc_identities (
    user_id   uuid NOT NULL REFERENCES users ON DELETE CASCADE,
    issuer    text NOT NULL,
    subject   text NOT NULL,
    linked_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, issuer),
    UNIQUE (issuer, subject)
);

-- Someone who accepted their invitation with the provider has no password (until they choose
-- one by an e-mailed link); signing in with a password checks a dummy hash and fails.
ALTER TABLE users ALTER COLUMN password_hash DROP NOT NULL;
