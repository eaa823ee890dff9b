-- E-mails to candidates about their own referral (services/intake/notify*.py): one row per
-- event that asks for one, keyed by the event's id, so a redelivered event or a restart never
-- sends twice. No address is kept here: the sender opens the referral's sealed contact when it
-- sends, so an erasure (the contact and key gone) leaves nothing to send to; the erasure's
-- handler also cancels what was waiting and empties `details` (the interview's time, the
-- offer's title).
CREATE TABLE candidate_notices (
    event_id        uuid PRIMARY KEY,
    referral_id     text        NOT NULL,
    kind            text        NOT NULL CHECK (kind IN ('referred', 'interview', 'offer')),
    language        text        NOT NULL,
    details         jsonb       NOT NULL DEFAULT '{}',
    -- pending -> sending -> sent; failed (given up, or interrupted while sending: not sent
    -- again, it may have gone); cancelled (erased, withdrawn, no e-mail address).
    status          text        NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'cancelled')),
    attempts        int         NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX candidate_notices_due ON candidate_notices (next_attempt_at) WHERE status = 'pending';
CREATE INDEX candidate_notices_referral ON candidate_notices (referral_id);
CREATE INDEX candidate_notices_finished ON candidate_notices (updated_at) WHERE status IN ('sent', 'failed', 'cancelled');
