-- Candidate events and erasure.
-- candidate.erased is about a person, not a referral: its ledger row has no referral_id
-- (its subject, the candidate id, is in the envelope). Every other row still has one.
ALTER TABLE ledger
    ALTER COLUMN referral_id DROP NOT NULL,
    ADD COLUMN redacted_at timestamptz,
    ADD CONSTRAINT ledger_referral_or_candidate CHECK (referral_id IS NOT NULL OR event_type LIKE 'candidate.%');

-- Referrals whose candidate was erased: events of theirs that arrive later (other topics)
-- are redacted as they are appended.
CREATE TABLE erased_referrals (
    referral_id  text PRIMARY KEY,
    erased_at    timestamptz NOT NULL
);

-- The ledger stays append-only, with one narrow exception: the redaction of an erased
-- candidate's events. It must be switched on for the transaction
-- (SET LOCAL talentloop.redacting = 'on'), happens once per row (redacted_at is set), changes
-- nothing but the envelope's data, adds no key to it, and leaves the candidate id "erased".
-- DELETE is never allowed.
CREATE OR REPLACE FUNCTION ledger_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND current_setting('talentloop.redacting', true) = 'on'
       AND OLD.redacted_at IS NULL AND NEW.redacted_at IS NOT NULL
       AND to_jsonb(NEW) - 'envelope' - 'redacted_at' = to_jsonb(OLD) - 'envelope' - 'redacted_at'
       AND NEW.envelope - 'data' = OLD.envelope - 'data'
       AND jsonb_typeof(NEW.envelope -> 'data') = 'object'
       AND NOT EXISTS (
           SELECT 1 FROM jsonb_object_keys(NEW.envelope -> 'data') AS k WHERE NOT (OLD.envelope -> 'data') ? k
       )
       AND coalesce(NEW.envelope #>> '{data,candidate_id}', 'erased') = 'erased'
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the ledger is append-only';
END $$;
