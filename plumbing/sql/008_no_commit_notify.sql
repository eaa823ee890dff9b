-- The outbox relay and the webhook dispatcher poll instead of being woken by NOTIFY: a
-- notifying commit takes a lock that PostgreSQL holds for the whole cluster through the WAL
-- flush, so under load every commit that wrote an outbox row or queued a delivery waited for
-- the one before it (plumbing/outbox.py).
DROP TRIGGER IF EXISTS outbox_notify ON outbox;
DROP FUNCTION IF EXISTS notify_outbox();
DROP TRIGGER IF EXISTS webhook_deliveries_notify ON webhook_deliveries;
DROP FUNCTION IF EXISTS notify_webhooks();
