-- One-time links sent by e-mail (services/portal/mail_links.py): signing in without a password,
-- and choosing a new password. Only the token's SHA-256 is kept; a link works once
-- (`used_at`), until `expires_at`, and asking for a new one ends the older ones.
CREATE TABLE email_links (
    token_sha256 bytea PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users ON DELETE CASCADE,
    purpose      text NOT NULL CHECK (purpose IN ('sign_in', 'reset')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz
);
CREATE INDEX email_links_user ON email_links (user_id, purpose) WHERE used_at IS NULL;
