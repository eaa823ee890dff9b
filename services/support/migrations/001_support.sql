-- Supportive services: the providers' directory, whose referrals and enrollments are whose,
-- and the requests partners make of providers.
CREATE TABLE providers (
    provider_id    text PRIMARY KEY,           -- a partner, by its partner id
    name           text        NOT NULL,
    service_types  text[]      NOT NULL,
    registered_at  timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);

-- Learned from talentloop.referrals (referral.submitted) and talentloop.training
-- (training.enrolled): a request names one of its requester's own, and carries the person's
-- candidate id. An erasure may arrive before the referral (another topic): then the row is made
-- by the erasure, with no owner yet, and stays erased.
CREATE TABLE people (
    ref_id        text PRIMARY KEY,            -- a referral id or an enrollment id (random: never both)
    kind          text NOT NULL CHECK (kind IN ('referral', 'enrollment')),
    owner_id      text,                        -- the partner that referred or enrolled
    candidate_id  text NOT NULL,               -- 'erased' once erased
    erased_at     timestamptz
);
CREATE INDEX people_candidate ON people (candidate_id);

CREATE TABLE requests (
    request_id          text PRIMARY KEY,
    seq                 bigserial   NOT NULL UNIQUE,  -- creation order; the lists' paging cursor
    requester_id        text        NOT NULL,
    provider_id         text        NOT NULL,
    candidate_id        text        NOT NULL,          -- 'erased' once the person is erased
    referral_id         text,
    enrollment_id       text,
    service_type        text        NOT NULL,
    reason              text,                          -- the requester's words; null once erased
    amount_requested    numeric(12, 2),
    currency            text,
    state               text        NOT NULL,
    requested_at        timestamptz NOT NULL,
    state_since         timestamptz NOT NULL,          -- the stale rule counts from here
    decline_reason      text,
    decline_detail      text,                          -- the provider's words; null once erased
    cancel_reason       text,                          -- the requester's words; null once erased
    delivered_on        date,
    value_delivered     numeric(12, 2),
    value_currency      text,
    stale_requested_at  timestamptz,                   -- flagged (service.stale) while requested
    stale_accepted_at   timestamptz,                   -- flagged while accepted
    erased_at           timestamptz,
    CHECK ((referral_id IS NULL) <> (enrollment_id IS NULL))
);
CREATE INDEX requests_requester ON requests (requester_id, seq);
CREATE INDEX requests_provider ON requests (provider_id, seq);
CREATE INDEX requests_candidate ON requests (candidate_id);
CREATE INDEX requests_referral ON requests (referral_id) WHERE referral_id IS NOT NULL;
CREATE INDEX requests_enrollment ON requests (enrollment_id) WHERE enrollment_id IS NOT NULL;
CREATE INDEX requests_waiting ON requests (state_since) WHERE state IN ('requested', 'accepted');
