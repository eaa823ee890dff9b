-- The whole lifecycle at the employer (issue 6): rescheduled and cancelled interviews, offers,
-- the employment a placement starts (retention check-ins, separation), stale referrals and the
-- candidate's contact details for employers the candidate allowed to see them.
ALTER TABLE interviews ADD COLUMN cancelled_by text;

CREATE TABLE offers (
    offer_id        text PRIMARY KEY,
    referral_id     text NOT NULL,
    employer_id     text NOT NULL,
    terms           jsonb NOT NULL,
    expires_on      date,
    declined_reason text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (referral_id, employer_id) REFERENCES referrals (referral_id, employer_id)
);
CREATE INDEX offers_referral ON offers (referral_id, employer_id);

CREATE TABLE employments (
    referral_id   text NOT NULL,
    employer_id   text NOT NULL,
    start_date    date NOT NULL,
    checked       jsonb NOT NULL DEFAULT '{}',  -- {"30": true, "90": false}: milestone days -> still employed
    separated_on  date,
    PRIMARY KEY (referral_id, employer_id),
    FOREIGN KEY (referral_id, employer_id) REFERENCES referrals (referral_id, employer_id)
);

-- Stale: routed and not acknowledged within N business days; `stale_at` is when
-- referral.stale was published (once per referral and employer).
ALTER TABLE referrals ADD COLUMN stale_at timestamptz;
CREATE INDEX referrals_unacknowledged ON referrals (routed_at) WHERE state = 'routed' AND stale_at IS NULL;

-- The candidate's contact details, sealed with their key (intake's referral.submitted and
-- referral.updated), and whether employers may see them. Gone when the candidate is erased
-- (and unreadable anyway: their key is destroyed).
CREATE TABLE contacts (
    referral_id     text PRIMARY KEY,
    share_contact   boolean NOT NULL,
    contact_sealed  jsonb,
    updated_at      timestamptz NOT NULL
);
