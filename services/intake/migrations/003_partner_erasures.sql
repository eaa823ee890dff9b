-- A partner's erasure of its own referrals of a person (the person's other referrals, and
-- their key, stay for the partners that hold them). The proof names the partner and how
-- many of its referrals went, never the candidate: the partner's link to them is what was
-- erased.
CREATE TABLE partner_erasures (
    erasure_id     text PRIMARY KEY,
    partner_id     text        NOT NULL,
    principal      text        NOT NULL,
    referral_count int         NOT NULL,
    erased_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX partner_erasures_partner ON partner_erasures (partner_id, erased_at);
