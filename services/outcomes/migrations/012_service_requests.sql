-- Issue 15 item 3: supportive services in the ledger. Outcomes consumes talentloop.services
-- (support's service.* and service_provider.* events): each is kept in the ledger, a request's
-- under its request id, and each request is projected from all its ledger rows into
-- `service_requests` (services/outcomes/service_requests.py), so a rebuild gives the same rows.
ALTER TABLE ledger ADD COLUMN request_id text;
ALTER TABLE ledger DROP CONSTRAINT ledger_about_something;
ALTER TABLE ledger ADD CONSTRAINT ledger_about_something
    CHECK (referral_id IS NOT NULL OR enrollment_id IS NOT NULL OR request_id IS NOT NULL
           OR event_type LIKE 'candidate.%' OR event_type LIKE 'opening.%' OR event_type LIKE 'program.%'
           OR event_type LIKE 'service_provider.%');
CREATE INDEX ledger_request ON ledger (request_id, occurred_at, seq) WHERE request_id IS NOT NULL;

-- One row per request. `person_key` as funnel_people's and enrollment_facts': the network's
-- candidate id, "erased:" and the erasure's id once the referral or enrollment the request names
-- is erased (then the request's free text is gone from its ledger rows too).
CREATE TABLE service_requests (
    request_id       text PRIMARY KEY,
    requester_id     text NOT NULL,
    provider_id      text NOT NULL,
    person_key       text NOT NULL,
    referral_id      text,
    enrollment_id    text,
    service_type     text,            -- null only until the request itself has arrived
    requested_at     timestamptz,
    amount_requested numeric,
    currency         text,
    status           text NOT NULL,   -- requested | accepted | declined | delivered | cancelled
    accepted_at      timestamptz,
    ended_at         timestamptz,
    decline_reason   text,
    delivered_on     date,
    value_delivered  numeric,
    stale_at         timestamptz,     -- the first time it was flagged
    partner_status   text NOT NULL,   -- what the requester was told: status, or stale
    detail           jsonb NOT NULL,  -- events.ServiceStatusDetail, as the requester sees it
    changed_at       timestamptz NOT NULL  -- its latest event's time
);
CREATE INDEX service_requests_requester ON service_requests (requester_id, request_id);
CREATE INDEX service_requests_person ON service_requests (person_key);
CREATE INDEX service_requests_referral ON service_requests (referral_id) WHERE referral_id IS NOT NULL;
CREATE INDEX service_requests_enrollment ON service_requests (enrollment_id) WHERE enrollment_id IS NOT NULL;
