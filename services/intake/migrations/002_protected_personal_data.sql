-- Personal data sealed with per-candidate keys (plumbing/vault.py), identities that link
-- one person's referrals, the partner lifecycle of a referral, bulk imports and erasures.

-- The plaintext `contact` of 001 is sealed into `contact_sealed` and then dropped by the
-- service at start (store.seal_legacy_contacts), which needs the keys this SQL cannot hold.
ALTER TABLE referrals ALTER COLUMN contact DROP NOT NULL;
ALTER TABLE referrals
    ADD COLUMN contact_sealed      jsonb,
    ADD COLUMN demographics_sealed jsonb,
    ADD COLUMN target_key          text NOT NULL DEFAULT 'any',
    ADD COLUMN entry               text NOT NULL DEFAULT 'api'
        CHECK (entry IN ('api', 'webhook', 'csv', 'kafka')),
    ADD COLUMN status              text NOT NULL DEFAULT 'active'
        CHECK (status IN ('active', 'withdrawn', 'erased')),
    ADD COLUMN withdrawn_at        timestamptz,
    ADD COLUMN withdrawal_reason   text,
    ADD COLUMN updated_at          timestamptz;
UPDATE referrals SET target_key = COALESCE(
    'opening:' || (submission->>'target_opening_id'),
    'occupation:' || (submission->>'target_onet_soc_code'),
    'any');
-- Duplicate checks: the same person for the same target, or the partner's own reference.
-- The selective column leads, so the lookup stays an index probe whatever the statistics say.
CREATE INDEX referrals_dedupe ON referrals (candidate_id, partner_id, target_key) WHERE status = 'active';
CREATE INDEX referrals_external ON referrals (external_id, partner_id) WHERE external_id IS NOT NULL;
CREATE INDEX referrals_candidate ON referrals (candidate_id);

-- Keyed hashes (HMAC) of a normalized e-mail or phone -> the candidate they identify.
CREATE TABLE candidate_identities (
    identity_hash text PRIMARY KEY,
    candidate_id  text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX candidate_identities_candidate ON candidate_identities (candidate_id);

-- Bulk CSV imports and their per-row errors (codes and column names, never the values).
CREATE TABLE imports (
    import_id       text PRIMARY KEY,
    partner_id      text        NOT NULL,
    filename        text,
    file_sha256     text        NOT NULL,
    idempotency_key text,
    status          text        NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed')),
    rows            int         NOT NULL DEFAULT 0,
    accepted        int         NOT NULL DEFAULT 0,
    duplicates      int         NOT NULL DEFAULT 0,
    rejected        int         NOT NULL DEFAULT 0,
    unknown_skills  jsonb       NOT NULL DEFAULT '{}',
    failure         text,
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);
CREATE UNIQUE INDEX imports_idempotency ON imports (partner_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE TABLE import_errors (
    import_id    text NOT NULL REFERENCES imports (import_id) ON DELETE CASCADE,
    row_number   int  NOT NULL,
    field        text NOT NULL,
    code         text NOT NULL,
    message      text NOT NULL,
    referral_id  text
);
CREATE INDEX import_errors_import ON import_errors (import_id, row_number);

-- Proof that an erasure happened (no personal data: the pseudonymous id is unlinkable
-- once its identities and key are gone).
CREATE TABLE erasures (
    candidate_id   text PRIMARY KEY,
    requested_by   text        NOT NULL,
    principal      text        NOT NULL,
    referral_count int         NOT NULL,
    erased_at      timestamptz NOT NULL DEFAULT now()
);
