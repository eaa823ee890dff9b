-- The dispatcher claims the oldest due delivery of each endpoint (plumbing/webhooks.py,
-- Dispatcher.dispatch_due): one index probe per endpoint.
CREATE INDEX IF NOT EXISTS webhook_deliveries_endpoint_due
    ON webhook_deliveries (endpoint_id, next_attempt_at, delivery_id) WHERE status = 'pending';
