-- Outbound webhooks (plumbing/webhooks.py): endpoints an owner (an employer, a partner)
-- registered, one delivery per notification and endpoint, and every attempt's outcome.
CREATE TABLE IF NOT EXISTS webhook_endpoints (
    endpoint_id      text PRIMARY KEY,
    owner            text        NOT NULL,             -- a principal ref: employer:<id>, partner:<id>
    url              text        NOT NULL,
    event_types      text[]      NOT NULL DEFAULT '{}', -- empty: every type
    active           boolean     NOT NULL DEFAULT true,
    secret_sealed    bytea       NOT NULL,             -- AES-GCM under a key derived from the master key
    previous_sealed  bytea,                            -- the secret before a rotation, still signing until:
    previous_until   timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS webhook_endpoints_owner ON webhook_endpoints (owner);

CREATE TABLE IF NOT EXISTS webhook_deliveries (
    delivery_id      text PRIMARY KEY,
    endpoint_id      text        NOT NULL REFERENCES webhook_endpoints (endpoint_id) ON DELETE CASCADE,
    owner            text        NOT NULL,
    event_id         uuid        NOT NULL,
    event_type       text        NOT NULL,
    body             jsonb       NOT NULL,
    status           text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         int         NOT NULL DEFAULT 0,    -- since it was last (re)queued
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_status      int,
    last_error       text,
    delivered_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS webhook_deliveries_owner ON webhook_deliveries (owner, created_at);

CREATE TABLE IF NOT EXISTS webhook_attempts (
    id               bigserial PRIMARY KEY,
    delivery_id      text        NOT NULL REFERENCES webhook_deliveries (delivery_id) ON DELETE CASCADE,
    at               timestamptz NOT NULL DEFAULT now(),
    status_code      int,
    duration_ms      int         NOT NULL,
    error            text,
    response_excerpt text
);
CREATE INDEX IF NOT EXISTS webhook_attempts_delivery ON webhook_attempts (delivery_id, id);

-- Wake the dispatcher when a delivery is queued (delivered at commit); it also polls.
CREATE OR REPLACE FUNCTION notify_webhooks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('webhooks_' || TG_TABLE_SCHEMA, '');
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS webhook_deliveries_notify ON webhook_deliveries;
CREATE TRIGGER webhook_deliveries_notify AFTER INSERT OR UPDATE OF status ON webhook_deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION notify_webhooks();
