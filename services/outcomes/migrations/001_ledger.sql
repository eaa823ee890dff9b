-- The append-only ledger of every lifecycle event, and the per-referral facts derived
-- from it. Rows in `ledger` are never updated or deleted.
CREATE TABLE ledger (
    seq          bigserial PRIMARY KEY,
    event_id     uuid        NOT NULL UNIQUE,
    event_type   text        NOT NULL,
    referral_id  text        NOT NULL,
    partner_id   text,
    employer_id  text,
    occurred_at  timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    source_topic text        NOT NULL,
    envelope     jsonb       NOT NULL
);
CREATE INDEX ledger_referral ON ledger (referral_id, occurred_at, seq);

CREATE FUNCTION ledger_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only';
END $$;
CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON ledger
    FOR EACH ROW EXECUTE FUNCTION ledger_is_append_only();

CREATE TABLE referral_facts (
    referral_id  text PRIMARY KEY,
    partner_id   text,
    employer_id  text,
    facts        text[]      NOT NULL DEFAULT '{}',
    stages       text[]      NOT NULL DEFAULT '{}',
    status       text        NOT NULL,
    anomalies    text[]      NOT NULL DEFAULT '{}',
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX referral_facts_partner ON referral_facts (partner_id);
CREATE INDEX referral_facts_employer ON referral_facts (employer_id);
