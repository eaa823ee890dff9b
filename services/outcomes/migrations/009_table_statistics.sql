-- Issue 13 (speed): what autovacuum does to outcomes' tables while events stream in.
--
-- No statement filters, joins or sorts on the large columns below (they are read whole, by
-- referral id or by sequential scan), so the planner has no use for their statistics; yet
-- every autovacuum ANALYZE of these tables computed them, over a sample of up to 30,000 rows:
-- jsonb envelopes and records, element statistics of text arrays, every kept compact event.
-- In bench/outcomes_ledger.py --referrals 10000 (99,726 events) ANALYZE took 9.2 of
-- autovacuum's 11.1 s in outcomes' schema; an ANALYZE of referral_facts took 1.7 s, 0.13 s
-- without these, one of the ledger 1.7 s, 1.0 s. Statistics of the columns that are filtered
-- on (ids, types, status, times) stay.
ALTER TABLE ledger ALTER COLUMN envelope SET STATISTICS 0;
ALTER TABLE referral_inputs ALTER COLUMN input SET STATISTICS 0;
ALTER TABLE referral_facts
    ALTER COLUMN facts SET STATISTICS 0,
    ALTER COLUMN scoped_facts SET STATISTICS 0,
    ALTER COLUMN stages SET STATISTICS 0,
    ALTER COLUMN anomalies SET STATISTICS 0,
    ALTER COLUMN record SET STATISTICS 0,
    ALTER COLUMN partner_detail SET STATISTICS 0,
    ALTER COLUMN demographics_sealed SET STATISTICS 0;

-- The ledger and referral_inputs only grow (referral_inputs loses a referral's rows only when
-- they are written again from the ledger). A vacuum of a table that only grows marks its new
-- pages all-visible and freezes them; by default it starts after 1,000 + 20 % of the table's
-- rows were inserted, so a young table is vacuumed again and again while it fills. After
-- 100,000 new rows (or 20 % of the table, whichever is more), the same pages are vacuumed in
-- fewer, larger runs.
ALTER TABLE ledger SET (autovacuum_vacuum_insert_threshold = 100000);
ALTER TABLE referral_inputs SET (autovacuum_vacuum_insert_threshold = 100000);
