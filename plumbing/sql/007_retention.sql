-- Pruning by age (plumbing/retention.py): the inbox is appended in time order, so a BRIN
-- index finds its old rows for almost nothing (a B-tree would cost every claim an insert).
CREATE INDEX IF NOT EXISTS inbox_applied_at ON inbox USING brin (applied_at);
CREATE INDEX IF NOT EXISTS webhook_deliveries_finished ON webhook_deliveries (created_at)
    WHERE status IN ('delivered', 'failed');
