-- Referrals accepted from partners. `contact` is personal data and stays in this schema
-- only; events carry the pseudonymous candidate id.
CREATE TABLE referrals (
    referral_id    text PRIMARY KEY,
    partner_id     text        NOT NULL,
    external_id    text,
    candidate_id   text        NOT NULL,
    contact        jsonb       NOT NULL,
    submission     jsonb       NOT NULL,
    submitted_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX referrals_partner ON referrals (partner_id, submitted_at);
