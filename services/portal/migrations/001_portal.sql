-- The portal's accounts (docs/portals.md): organisations linked to the tenant ids the services
-- use, their users and roles, invitations, sessions, sign-in failures, the audit of who did
-- what, each organisation's machine key (sealed) and CSV uploads.

CREATE TABLE organisations (
    org_id      uuid PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('partner', 'training_provider', 'service_provider', 'employer', 'operators')),
    tenant_id   text NOT NULL,          -- the principal id the services know it by (partnerid, employerid)
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kind, tenant_id)
);

CREATE TABLE users (
    user_id       uuid PRIMARY KEY,
    org_id        uuid NOT NULL REFERENCES organisations,
    email         text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    display_name  text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
    role          text NOT NULL CHECK (role IN ('admin', 'staff', 'read_only')),
    password_hash text NOT NULL,        -- argon2id, PHC string
    language      text CHECK (language IN ('en', 'es')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    disabled_at   timestamptz
);
CREATE UNIQUE INDEX users_email ON users (lower(email));
CREATE INDEX users_org ON users (org_id);

CREATE TABLE invitations (
    invitation_id uuid PRIMARY KEY,
    token_sha256  bytea NOT NULL UNIQUE,
    org_id        uuid NOT NULL REFERENCES organisations,
    email         text NOT NULL,
    role          text NOT NULL CHECK (role IN ('admin', 'staff', 'read_only')),
    invited_by    uuid REFERENCES users, -- null: made by the demo seed or the bootstrap command
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    accepted_at   timestamptz,
    accepted_user uuid REFERENCES users
);
CREATE INDEX invitations_org ON invitations (org_id, created_at DESC);

-- A session id is a random token in the cookie; only its hash is kept. user_id null: a visitor
-- not signed in yet, whose session carries the CSRF token of the sign-in form.
CREATE TABLE sessions (
    token_sha256 bytea PRIMARY KEY,
    user_id      uuid REFERENCES users ON DELETE CASCADE,
    csrf_token   text NOT NULL,
    language     text CHECK (language IN ('en', 'es')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE signin_failures (
    failure_id bigserial PRIMARY KEY,
    email      text NOT NULL,           -- lower-cased as typed (it may name no user)
    address    text NOT NULL,
    at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX signin_failures_email ON signin_failures (email, at);
CREATE INDEX signin_failures_address ON signin_failures (address, at);

-- Who did what: ids only (users, organisations, referrals, imports), never a person's name.
CREATE TABLE audit (
    audit_id       bigserial PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT now(),
    org_id         uuid,
    user_id        uuid,
    action         text NOT NULL,
    target         text,
    correlation_id text,
    detail         jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_org ON audit (org_id, at DESC);

-- The API key the portal acts on the services with for an organisation, sealed with the
-- network's master key (AES-256-GCM, bound to the organisation's id).
CREATE TABLE org_keys (
    org_id     uuid PRIMARY KEY REFERENCES organisations,
    key_id     text NOT NULL,
    sealed     bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE uploads (
    upload_id   uuid PRIMARY KEY,
    org_id      uuid NOT NULL REFERENCES organisations,
    user_id     uuid NOT NULL REFERENCES users,
    filename    text,
    status      text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed')),
    bytes_total bigint NOT NULL DEFAULT 0,
    bytes_read  bigint NOT NULL DEFAULT 0,
    rows        int NOT NULL DEFAULT 0,
    accepted    int NOT NULL DEFAULT 0,
    duplicates  int NOT NULL DEFAULT 0,
    rejected    int NOT NULL DEFAULT 0,
    import_id   text,
    failure     text,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE INDEX uploads_org ON uploads (org_id, started_at DESC);
